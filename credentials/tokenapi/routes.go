package tokenapi

import "net/http"

// Route patterns; they double as the route metric label.
const (
	routeTokens     = "/2010-04-01/Accounts/{AccountSid}/Tokens.json"
	routeTokensBare = "/2010-04-01/Accounts/{AccountSid}/Tokens"
	routeKeys       = "/2010-04-01/Accounts/{AccountSid}/Keys.json"
	routeKeysBare   = "/2010-04-01/Accounts/{AccountSid}/Keys"
	routeKey        = "/2010-04-01/Accounts/{AccountSid}/Keys/{Sid}"
	routeAccount    = "/2010-04-01/Accounts/{Sid}"
	routeAccounts   = "/2010-04-01/Accounts.json"
	routeUsageRecs  = "/2010-04-01/Accounts/{AccountSid}/Usage/Records.json"
	routeUsageSub   = "/2010-04-01/Accounts/{AccountSid}/Usage/Records/{Sub}"
	routeIAMKeys    = "/v1/Keys"
	routeIAMKey     = "/v1/Keys/{Sid}"
	routeICEServers = "/v1/ice-servers"
	routeUsage      = "/v1/usage"
	routeAllocs     = "/v1/allocations"
	routeAlloc      = "/v1/allocations/{Id}"
	routeConsole    = "/console/"
	routeUnmatched  = "unmatched"
)

// routes builds the router. Patterns carry no method so that a wrong method
// gets Twilio's 405 envelope from the handler instead of ServeMux's plain
// text. The key route's {Sid} segment includes the optional ".json" suffix
// (a wildcard must be a whole segment); handleKey strips it.
func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, label string, h http.HandlerFunc) {
		mux.Handle(pattern, a.instrument(label, h))
	}
	handle(routeTokens, routeTokens, a.handleTokens)
	handle(routeTokensBare, routeTokensBare, asXML(a.handleTokens))
	handle(routeKeys, routeKeys, a.handleKeys)
	handle(routeKeysBare, routeKeysBare, a.handleKeys)
	handle(routeKey, routeKey+".json", a.handleKey)
	handle(routeAccount, routeAccount+".json", a.handleAccount)
	handle(routeAccounts, routeAccounts, a.handleAccounts)
	handle(routeUsageRecs, routeUsageRecs, a.handleUsageRecords)
	handle(routeUsageSub, routeUsageSub, a.handleUsageRecords)
	handle(routeIAMKeys, routeIAMKeys, a.handleIAMKeys)
	handle(routeIAMKey, routeIAMKey, a.handleIAMKey)
	handle(routeICEServers, routeICEServers, a.handleICEServers)
	handle(routeUsage, routeUsage, a.handleUsage)
	handle(routeAllocs, routeAllocs, a.handleAllocations)
	handle(routeAlloc, routeAlloc, a.handleAllocation)
	if a.cfg.Console != nil {
		mux.Handle(routeConsole, a.instrument(routeConsole, a.cfg.Console.ServeHTTP))
	}
	handle("/", routeUnmatched, notFound)
	return mux
}
