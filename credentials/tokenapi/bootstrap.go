package tokenapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// InitialAccountFile is where EnsureBootstrapAccount saves the first
// account's credentials, inside the data directory.
const InitialAccountFile = "initial-account.json"

// EnsureBootstrapAccount gives a fresh installation its first account: when
// the store has no account it creates one, prints its SID and auth token to
// out, and saves both to <dataDir>/initial-account.json (mode 0600). It does
// nothing on a store that has accounts.
//
// The file is opened exclusively before the account is created, so an
// existing file (left over from an earlier database) is an error rather than
// overwritten, and the usual failures (no such directory, not writable) stop
// before an account exists. Once the account exists its credentials are
// printed whatever happens to the file, so nobody is left with an account
// whose token was never shown. Two processes bootstrapping one empty shared
// database at the same moment may each create an account; both are usable.
func EnsureBootstrapAccount(ctx context.Context, st store.Store, dataDir string, out io.Writer) (created bool, err error) {
	accounts, err := st.ListAccounts(ctx)
	if err != nil {
		return false, fmt.Errorf("bootstrap: listing accounts: %w", err)
	}
	if len(accounts) > 0 {
		return false, nil
	}
	path := filepath.Join(dataDir, InitialAccountFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("bootstrap: the store has no account but %s exists (from an earlier database?); move it away to create a new account", path)
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	acct, err := st.CreateAccount(ctx, "Initial account")
	if err != nil {
		f.Close()
		os.Remove(path)
		return false, fmt.Errorf("bootstrap: creating account: %w", err)
	}
	where := "saved in " + path
	saveErr := writeInitialAccount(f, acct)
	if saveErr != nil {
		os.Remove(path)
		saveErr = fmt.Errorf("bootstrap: saving %s: %w", path, saveErr)
		where = "NOT saved (" + saveErr.Error() + "): copy them now"
	}
	_, err = fmt.Fprintf(out, "Created the initial account; its credentials are shown only now and %s\n  Account SID: %s\n  Auth token:  %s\n", where, acct.SID, acct.AuthToken)
	if err != nil {
		err = fmt.Errorf("bootstrap: printing credentials: %w", err)
	}
	return true, errors.Join(saveErr, err)
}

// writeInitialAccount writes the credentials file and closes f.
func writeInitialAccount(f *os.File, acct store.Account) error {
	body, err := json.MarshalIndent(struct {
		AccountSID string `json:"account_sid"`
		AuthToken  string `json:"auth_token"`
	}{acct.SID, acct.AuthToken}, "", "  ")
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(body, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
