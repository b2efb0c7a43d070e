// Package quota counts concurrent TURN allocations per identity, per account
// and in total, and refuses new ones past the configured limits (coturn's
// user-quota and total-quota; pion/turn answers 486 Allocation Quota Reached
// when the QuotaHandler says no).
//
// It runs once per allocation, not per packet, so a single mutex is simpler
// and cheap enough. Keys whose count drops to zero are deleted, so ephemeral
// identities (REST credentials, per-call tokens) do not grow memory.
package quota
