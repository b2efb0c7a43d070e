// Package sessions serves the live-allocations resource, /v1/allocations:
// list with filters and paging, close one, close by filter. The admin
// listener serves it for every account (the operator); the API serves it
// for the accounts a principal may see (a tenant). Both pass a Scope, so
// the JSON, the filters and the paging are the same on either listener.
package sessions
