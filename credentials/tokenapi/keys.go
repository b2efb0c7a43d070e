package tokenapi

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/turnkey-dev/turnkey/credentials"
	"github.com/turnkey-dev/turnkey/credentials/store"
)

// maxFriendlyName is Twilio's limit on a key's FriendlyName, in characters.
const maxFriendlyName = 64

// keyResource is Twilio's Key resource; Secret is set only in the response
// that creates the key.
type keyResource struct {
	SID          string `json:"sid"`
	FriendlyName string `json:"friendly_name"`
	DateCreated  string `json:"date_created"`
	DateUpdated  string `json:"date_updated"`
	Secret       string `json:"secret,omitempty"`
}

func keyJSON(k store.Key) keyResource {
	return keyResource{SID: k.SID, FriendlyName: k.FriendlyName, DateCreated: rfc2822(k.DateCreated), DateUpdated: rfc2822(k.DateUpdated)}
}

// friendlyName reads the FriendlyName parameter, answering 400 when it is
// too long or not text.
func friendlyName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.Form.Get("FriendlyName")
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxFriendlyName {
		badParameter(w, "Invalid FriendlyName: at most 64 characters of text")
		return "", false
	}
	return name, true
}

// handleKeys serves the Keys list: GET lists, POST creates.
func (a *API) handleKeys(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, r, "GET, POST")
		return
	}
	accountSID := r.PathValue("AccountSid")
	if _, ok := a.authMain(w, r, accountSID); !ok || !a.parseForm(w, r) {
		return
	}
	if r.Method == http.MethodGet {
		a.listKeys(w, r, accountSID)
		return
	}
	// The v2010 Keys resource makes Standard keys, as Twilio's does.
	a.createStandardKey(w, r, accountSID, func(k store.Key) any {
		res := keyJSON(k)
		res.Secret = k.Secret
		return res
	})
}

// createStandardKey makes a Standard key named by the request's
// FriendlyName and answers 201 with render's resource, which shows the
// secret this once.
func (a *API) createStandardKey(w http.ResponseWriter, r *http.Request, accountSID string, render func(store.Key) any) {
	name, ok := friendlyName(w, r)
	if !ok {
		return
	}
	k, err := a.cfg.Store.CreateKey(r.Context(), accountSID, name)
	if err != nil {
		a.storeFailed(w, r, "creating key", err)
		return
	}
	a.log.Info("tokenapi: key created", "account", accountSID, "key", k.SID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, render(k))
}

// handleKey serves one key: GET fetches, POST renames, DELETE deletes.
func (a *API) handleKey(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodDelete {
		methodNotAllowed(w, r, "GET, POST, DELETE")
		return
	}
	accountSID := r.PathValue("AccountSid")
	if _, ok := a.authMain(w, r, accountSID); !ok || !a.parseForm(w, r) {
		return
	}
	a.serveKey(w, r, accountSID, func(k store.Key) any { return keyJSON(k) })
}

// serveKey answers for the key named by the Sid path value within
// accountSID, after authentication: GET fetches, POST renames (without
// FriendlyName, a fetch, as Twilio treats an update without parameters),
// DELETE deletes; render makes the resource of either API.
func (a *API) serveKey(w http.ResponseWriter, r *http.Request, accountSID string, render func(store.Key) any) {
	keySID := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	if !credentials.ValidSID(keySID, "SK") {
		notFound(w, r)
		return
	}
	ctx := r.Context()
	var (
		k   store.Key
		err error
	)
	switch r.Method {
	case http.MethodGet:
		k, err = a.cfg.Store.GetKey(ctx, accountSID, keySID)
	case http.MethodPost:
		name, ok := friendlyName(w, r)
		if !ok {
			return
		}
		if _, given := r.Form["FriendlyName"]; given {
			k, err = a.cfg.Store.UpdateKey(ctx, accountSID, keySID, name)
		} else {
			k, err = a.cfg.Store.GetKey(ctx, accountSID, keySID)
		}
	case http.MethodDelete:
		if err := a.cfg.Store.DeleteKey(ctx, accountSID, keySID); err != nil {
			a.storeFailed(w, r, "deleting key", err)
			return
		}
		a.log.Info("tokenapi: key deleted", "account", accountSID, "key", keySID)
		if a.cfg.OnRevoke != nil {
			a.cfg.OnRevoke(keySID)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		a.storeFailed(w, r, "reading key", err)
		return
	}
	writeJSON(w, http.StatusOK, render(k))
}

// storeFailed answers a store error: 404 for a missing record, else 500
// with the details in the log only.
func (a *API) storeFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, r)
		return
	}
	a.log.Error("tokenapi: "+what, "err", err)
	internalError(w)
}
