package sessions

import (
	"net/http"

	"github.com/turnkey-dev/turnkey/relay"
)

// Registry is the relay's allocation registry (relay.Server implements it).
type Registry interface {
	Allocations(f relay.AllocationFilter, cursor string, limit int) (relay.AllocationPage, error)
	Allocation(id string) (relay.Allocation, bool)
	CloseAllocation(id, reason string) bool
	CloseAllocations(f relay.AllocationFilter, reason string) int
}

// Scope is what a caller may see and close.
type Scope struct {
	// Accounts are the account SIDs whose allocations the caller may see;
	// nil means every account (the operator).
	Accounts []string
	// Reason labels the closes this caller makes (relay.CloseOperator or
	// relay.CloseTenant).
	Reason string
	// Error writes a refusal in the listener's own error format.
	Error func(w http.ResponseWriter, status int, msg string)
}

// visible reports whether the scope includes account.
func (s Scope) visible(account string) bool {
	if s.Accounts == nil {
		return true
	}
	for _, a := range s.Accounts {
		if a == account {
			return true
		}
	}
	return false
}
