package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/turnkey-dev/turnkey/credentials"
)

// Environment variables that keep secrets off the command line (and out of
// ps listings and shell history).
const (
	envKeySecret = "TURNKEY_KEY_SECRET"
	envAuthToken = "TURNKEY_AUTH_TOKEN"
)

const tokenUsageText = `usage:
  turnkey token access --account AC.. --key SK.. [--secret S] --identity NAME
                       [--grant SPEC]... [--ttl 1h] [--region R] [--nbf TIME]
  turnkey token capability --account AC.. [--auth-token T] [--incoming NAME]
                       [--outgoing AP.. [--client-name NAME] [--param k=v]...]
                       [--event-stream [--event-param k=v]...] [--ttl 1h]
  turnkey token decode [--secret S | --verify] <jwt | ->

access mints a Twilio Access Token signed with an API key secret (--secret or
$TURNKEY_KEY_SECRET). capability mints a legacy Twilio Client Capability Token
signed with the account's auth token (--auth-token or $TURNKEY_AUTH_TOKEN).
decode prints a token's header and claims; with --secret (or --verify, which
takes $TURNKEY_KEY_SECRET for Access Tokens and $TURNKEY_AUTH_TOKEN otherwise)
it also checks the HS256/HS384/HS512 signature and exits 1 if it does not match.

--ttl takes a Go duration (90m, 1h) or seconds; default 1h, at most 24h.
--nbf takes unix seconds or RFC 3339.

Grant specs, one --grant per grant kind (repeating a kind adds fields to it):
  KIND[:FIELD=VALUE[,FIELD=VALUE]...]
  voice       incoming_allow=true|false, outgoing_application_sid=AP..,
              outgoing_param.NAME=VALUE (repeatable), push_credential_sid=CR..,
              endpoint_id=ID
  video       room=NAME                       (no fields: any room)
  chat        service_sid=IS.., endpoint_id=ID, deployment_role_sid=RL..,
              push_credential_sid=CR..
  sync        service_sid=IS.., endpoint_id=ID          (alias: data_sync)
  taskrouter  workspace_sid=WS.., worker_sid=WK.., role=ROLE (alias: task_router)
  player      json=OBJECT   the Playback grant from Twilio Live, verbatim; the
              rest of the spec is the JSON, commas included
In values, write a comma as \, and a backslash as \\.
Example:
  --grant video:room=r1 --grant voice:outgoing_application_sid=AP..,incoming_allow=true,outgoing_param.to=alice
`

func runToken(args []string, stdout, stderr io.Writer) int {
	return runTokenEnv(args, stdout, stderr, os.Getenv, os.Stdin, time.Now())
}

// runTokenEnv is runToken with its environment, stdin and clock passed in,
// for tests.
func runTokenEnv(args []string, stdout, stderr io.Writer, getenv func(string) string, stdin io.Reader, now time.Time) int {
	e := tokenEnv{getenv: getenv, stdin: stdin, now: now}
	return group{name: "token", usage: tokenUsageText, helpOnStderr: true, subs: []subcommand{
		{name: "access", flags: e.access},
		{name: "capability", flags: e.capability},
		{name: "decode", flags: e.decode},
	}}.run(args, stdout, stderr)
}

// tokenEnv is what the token subcommands read besides their flags.
type tokenEnv struct {
	getenv func(string) string
	stdin  io.Reader
	now    time.Time
}

// tokenUsage makes a bad flag print the whole usage: the grant specs are
// explained there.
func tokenUsage(fs *flag.FlagSet) {
	fs.Usage = func() { fmt.Fprint(fs.Output(), tokenUsageText) }
}

// tokenNoArgs refuses positional arguments, which access and capability do
// not take.
func tokenNoArgs(x *invocation, args []string) (code int, ok bool) {
	if len(args) > 0 {
		fmt.Fprintf(x.stderr, "%s: unexpected argument %q\n", x.cmd, args[0])
		return 2, false
	}
	return 0, true
}

// printSigned prints a token Sign returned, or its refusal.
func printSigned(x *invocation, tok string, err error) int {
	if err != nil {
		fmt.Fprintln(x.stderr, "turnkey token:", err)
		return 2
	}
	fmt.Fprintln(x.stdout, tok)
	return 0
}

func (e tokenEnv) access(fs *flag.FlagSet) func(x *invocation) int {
	tokenUsage(fs)
	var (
		t      credentials.AccessToken
		grants tokenListFlag
		ttl    tokenTTLFlag
		nbf    string
	)
	fs.StringVar(&t.AccountSID, "account", "", "account SID (AC..)")
	fs.StringVar(&t.KeySID, "key", "", "API key SID (SK..) that signs the token")
	fs.StringVar(&t.Secret, "secret", "", "API key secret (default $"+envKeySecret+")")
	fs.StringVar(&t.Grants.Identity, "identity", "", "identity of the token holder")
	fs.Var(&grants, "grant", "grant spec KIND[:FIELD=VALUE,...] (repeatable)")
	fs.Var(&ttl, "ttl", "lifetime (duration or seconds; default 1h, max 24h)")
	fs.StringVar(&t.Region, "region", "", "region for the twr header")
	fs.StringVar(&nbf, "nbf", "", "not-before time (unix seconds or RFC 3339)")
	return func(x *invocation) int {
		if code, ok := tokenNoArgs(x, x.args); !ok {
			return code
		}
		if t.Secret == "" {
			t.Secret = e.getenv(envKeySecret)
		}
		g, err := parseGrantSpecs(grants)
		if err != nil {
			return x.refuse("%v", err)
		}
		g.Identity = t.Grants.Identity
		t.Grants = g
		t.TTL = time.Duration(ttl)
		if nbf != "" {
			if t.NotBefore, err = parseTokenTime(nbf); err != nil {
				return x.refuse("--nbf: %v", err)
			}
		}
		tok, err := t.Sign(e.now)
		return printSigned(x, tok, err)
	}
}

func (e tokenEnv) capability(fs *flag.FlagSet) func(x *invocation) int {
	tokenUsage(fs)
	var (
		t                              credentials.CapabilityToken
		incoming, outgoing, clientName string
		params, eventParams            tokenListFlag
		eventStream                    bool
		ttl                            tokenTTLFlag
	)
	fs.StringVar(&t.AccountSID, "account", "", "account SID (AC..)")
	fs.StringVar(&t.AuthToken, "auth-token", "", "account auth token (default $"+envAuthToken+")")
	fs.StringVar(&incoming, "incoming", "", "allow incoming calls to this client name")
	fs.StringVar(&outgoing, "outgoing", "", "allow outgoing calls through this TwiML app SID (AP..)")
	fs.StringVar(&clientName, "client-name", "", "client name for outgoing calls (default: --incoming)")
	fs.Var(&params, "param", "k=v parameter passed to the outgoing app (repeatable)")
	fs.BoolVar(&eventStream, "event-stream", false, "allow subscribing to the account's event stream")
	fs.Var(&eventParams, "event-param", "k=v event stream filter (repeatable)")
	fs.Var(&ttl, "ttl", "lifetime (duration or seconds; default 1h, max 24h)")
	return func(x *invocation) int {
		if code, ok := tokenNoArgs(x, x.args); !ok {
			return code
		}
		if t.AuthToken == "" {
			t.AuthToken = e.getenv(envAuthToken)
		}
		t.TTL = time.Duration(ttl)
		if incoming != "" {
			t.Scopes.Incoming = &credentials.IncomingScope{ClientName: incoming}
		}
		p, err := parseTokenParams(params)
		if err != nil {
			return x.refuse("--param: %v", err)
		}
		if outgoing != "" {
			if clientName == "" {
				clientName = incoming
			}
			t.Scopes.Outgoing = &credentials.OutgoingScope{ApplicationSID: outgoing, ClientName: clientName, Params: p}
		} else if len(p) > 0 || clientName != "" {
			return x.refuse("--param and --client-name need --outgoing")
		}
		ep, err := parseTokenParams(eventParams)
		if err != nil {
			return x.refuse("--event-param: %v", err)
		}
		if eventStream {
			t.Scopes.EventStream = &credentials.EventStreamScope{Params: ep}
		} else if len(ep) > 0 {
			return x.refuse("--event-param needs --event-stream")
		}
		tok, err := t.Sign(e.now)
		return printSigned(x, tok, err)
	}
}

// tokenDecoded is decode's output. Header and claims are kept raw so they
// print in the token's own key order.
type tokenDecoded struct {
	Header    json.RawMessage `json:"header"`
	Claims    json.RawMessage `json:"claims"`
	Expires   string          `json:"expires,omitempty"`
	Expired   bool            `json:"expired"`
	Signature string          `json:"signature"`
}

func (e tokenEnv) decode(fs *flag.FlagSet) func(x *invocation) int {
	tokenUsage(fs)
	secret := fs.String("secret", "", "check the HS256/HS384/HS512 signature with this secret")
	verify := fs.Bool("verify", false, "check the signature with $"+envKeySecret+" or $"+envAuthToken)
	return func(x *invocation) int {
		// Flags may also follow the token.
		if len(x.args) > 1 {
			if code, ok := parseFlags(fs, x.args[1:]); !ok {
				return code
			}
			if code, ok := tokenNoArgs(x, fs.Args()); !ok {
				return code
			}
		}
		if len(x.args) == 0 {
			return x.refuse("give the token as an argument, or - to read it from stdin")
		}
		raw := x.args[0]
		if raw == "-" {
			line, err := bufio.NewReader(io.LimitReader(e.stdin, 1<<20)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return x.fail(fmt.Errorf("reading stdin: %w", err))
			}
			raw = line
		}
		raw = stripBearer(raw)
		out, err := decodeToken(raw, e.now)
		if err != nil {
			return x.fail(err)
		}
		key := *secret
		if key == "" && *verify {
			key = e.getenv(envAuthToken)
			if isAccessTokenHeader(out.Header) {
				key = e.getenv(envKeySecret)
			}
			if key == "" {
				return x.refuse("--verify needs $%s (Access Tokens) or $%s (Capability Tokens)", envKeySecret, envAuthToken)
			}
		}
		code := 0
		if key != "" {
			out.Signature = checkTokenSignature(raw, key)
			if out.Signature != "valid" {
				code = 1
			}
		}
		if c := x.writeJSON(out); c != 0 {
			return c
		}
		return code
	}
}

// decodeToken splits a JWT without verifying it.
func decodeToken(raw string, now time.Time) (tokenDecoded, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return tokenDecoded{}, errors.New("not a JWT: want three dot-separated segments")
	}
	var out tokenDecoded
	for i, dst := range []*json.RawMessage{&out.Header, &out.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return tokenDecoded{}, fmt.Errorf("segment %d is not base64url: %w", i+1, err)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
			return tokenDecoded{}, fmt.Errorf("segment %d is not a JSON object", i+1)
		}
		*dst = b
	}
	out.Signature = "not checked"
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(out.Claims, &claims); err == nil && claims.Exp != nil {
		if f, err := claims.Exp.Float64(); err == nil {
			exp := time.Unix(int64(f), 0).UTC()
			out.Expires = exp.Format(time.RFC3339)
			out.Expired = !now.Before(exp)
		}
	}
	return out, nil
}

func isAccessTokenHeader(h json.RawMessage) bool {
	var hdr map[string]any
	_ = json.Unmarshal(h, &hdr)
	return hdr["cty"] == credentials.AccessTokenContentType
}

// stripBearer removes an Authorization scheme pasted with the token; the
// scheme is case-insensitive (RFC 9110), so "bearer " counts too.
func stripBearer(raw string) string {
	raw = strings.TrimSpace(raw)
	if scheme, rest, ok := strings.Cut(raw, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest)
	}
	return raw
}

// checkTokenSignature reports whether raw carries a valid HS256/HS384/HS512 signature
// under key. Times are not judged here; decode reports them separately.
func checkTokenSignature(raw, key string) string {
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}), jwt.WithoutClaimsValidation()).
		Parse(raw, func(*jwt.Token) (any, error) { return []byte(key), nil })
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid: " + err.Error()
	}
	return "unverifiable: " + err.Error()
}

// parseGrantSpecs turns --grant values into Grants (without identity).
func parseGrantSpecs(specs []string) (credentials.Grants, error) {
	var g credentials.Grants
	seen := map[string]bool{}
	for _, spec := range specs {
		kind, body, _ := strings.Cut(spec, ":")
		kind = strings.TrimSpace(kind)
		if kind == "player" {
			if err := setPlayerGrant(&g, body, seen); err != nil {
				return credentials.Grants{}, fmt.Errorf("--grant %s: %w", kind, err)
			}
			continue
		}
		fields, err := splitGrantFields(body)
		if err != nil {
			return credentials.Grants{}, fmt.Errorf("--grant %s: %w", kind, err)
		}
		set, err := grantSetter(&g, kind)
		if err != nil {
			return credentials.Grants{}, err
		}
		for _, f := range fields {
			name, value, ok := strings.Cut(f, "=")
			if !ok {
				return credentials.Grants{}, fmt.Errorf("--grant %s: field %q needs =value", kind, f)
			}
			if seen[kind+"."+name] {
				return credentials.Grants{}, fmt.Errorf("--grant %s: field %s given twice", kind, name)
			}
			seen[kind+"."+name] = true
			if err := set(name, value); err != nil {
				return credentials.Grants{}, fmt.Errorf("--grant %s: %w", kind, err)
			}
		}
	}
	return g, nil
}

func setPlayerGrant(g *credentials.Grants, body string, seen map[string]bool) error {
	if body == "" {
		return errors.New("needs json=OBJECT")
	}
	js, ok := strings.CutPrefix(body, "json=")
	if !ok {
		return errors.New("the only field is json=OBJECT")
	}
	if seen["player.json"] {
		return errors.New("given twice")
	}
	seen["player.json"] = true
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &obj); err != nil || obj == nil {
		return errors.New("json= must be a JSON object")
	}
	g.Player = json.RawMessage(js)
	return nil
}

// grantSetter creates the grant of the given kind if needed and returns a
// function that sets one of its fields.
func grantSetter(g *credentials.Grants, kind string) (func(name, value string) error, error) {
	unknown := func(name string) error { return fmt.Errorf("unknown field %q", name) }
	switch kind {
	case "voice":
		if g.Voice == nil {
			g.Voice = &credentials.VoiceGrant{}
		}
		v := g.Voice
		return func(name, value string) error {
			if p, ok := strings.CutPrefix(name, "outgoing_param."); ok {
				if p == "" {
					return errors.New("outgoing_param needs a name: outgoing_param.NAME=VALUE")
				}
				if v.OutgoingParams == nil {
					v.OutgoingParams = map[string]any{}
				}
				v.OutgoingParams[p] = value
				return nil
			}
			switch name {
			case "incoming_allow":
				b, err := strconv.ParseBool(value)
				if err != nil {
					return fmt.Errorf("incoming_allow=%q is not true or false", value)
				}
				v.IncomingAllow = b
			case "outgoing_application_sid":
				v.OutgoingApplicationSID = value
			case "push_credential_sid":
				v.PushCredentialSID = value
			case "endpoint_id":
				v.EndpointID = value
			default:
				return unknown(name)
			}
			return nil
		}, nil
	case "video":
		if g.Video == nil {
			g.Video = &credentials.VideoGrant{}
		}
		return fieldSetter(map[string]*string{"room": &g.Video.Room}), nil
	case "chat":
		if g.Chat == nil {
			g.Chat = &credentials.ChatGrant{}
		}
		c := g.Chat
		return fieldSetter(map[string]*string{
			"service_sid": &c.ServiceSID, "endpoint_id": &c.EndpointID,
			"deployment_role_sid": &c.DeploymentRoleSID, "push_credential_sid": &c.PushCredentialSID,
		}), nil
	case "sync", "data_sync":
		if g.Sync == nil {
			g.Sync = &credentials.SyncGrant{}
		}
		return fieldSetter(map[string]*string{"service_sid": &g.Sync.ServiceSID, "endpoint_id": &g.Sync.EndpointID}), nil
	case "taskrouter", "task_router":
		if g.TaskRouter == nil {
			g.TaskRouter = &credentials.TaskRouterGrant{}
		}
		tr := g.TaskRouter
		return fieldSetter(map[string]*string{"workspace_sid": &tr.WorkspaceSID, "worker_sid": &tr.WorkerSID, "role": &tr.Role}), nil
	}
	return nil, fmt.Errorf("--grant: unknown grant kind %q (voice, video, chat, sync, taskrouter, player)", kind)
}

func fieldSetter(fields map[string]*string) func(name, value string) error {
	return func(name, value string) error {
		dst, ok := fields[name]
		if !ok {
			return fmt.Errorf("unknown field %q", name)
		}
		*dst = value
		return nil
	}
}

// splitGrantFields splits on commas, honouring \, and \\ escapes.
func splitGrantFields(body string) ([]string, error) {
	if body == "" {
		return nil, nil
	}
	var (
		fields []string
		cur    strings.Builder
	)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '\\':
			if i+1 == len(body) || (body[i+1] != ',' && body[i+1] != '\\') {
				return nil, errors.New(`a backslash must be followed by , or \`)
			}
			i++
			cur.WriteByte(body[i])
		case ',':
			fields = append(fields, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(fields, cur.String()), nil
}

// parseTokenParams turns k=v flag values into a map; a key given twice is
// an error, as Twilio's helpers could not express it either.
func parseTokenParams(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not k=v", kv)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

func parseTokenTime(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither unix seconds nor RFC 3339", s)
	}
	return t, nil
}

// tokenListFlag collects a repeatable string flag.
type tokenListFlag []string

func (l *tokenListFlag) String() string     { return strings.Join(*l, " ") }
func (l *tokenListFlag) Set(s string) error { *l = append(*l, s); return nil }

// tokenTTLFlag is a lifetime given as a Go duration or as seconds, the unit
// Twilio's APIs use.
type tokenTTLFlag time.Duration

func (f *tokenTTLFlag) String() string { return time.Duration(*f).String() }

func (f *tokenTTLFlag) Set(s string) error {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = tokenTTLFlag(time.Duration(secs) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither a duration (1h) nor seconds", s)
	}
	*f = tokenTTLFlag(d)
	return nil
}
