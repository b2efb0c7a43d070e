package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/credentials"
)

func TestParseGrantSpecs(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    credentials.Grants
		wantErr string
	}{
		{name: "none"},
		{name: "video room", specs: []string{"video:room=r1"}, want: credentials.Grants{Video: &credentials.VideoGrant{Room: "r1"}}},
		{name: "video any room", specs: []string{"video"}, want: credentials.Grants{Video: &credentials.VideoGrant{}}},
		{name: "voice everything", specs: []string{
			`voice:outgoing_application_sid=AP1,incoming_allow=true,outgoing_param.to=a\,b,outgoing_param.x=1=2,push_credential_sid=CR1,endpoint_id=e\\1`,
		}, want: credentials.Grants{Voice: &credentials.VoiceGrant{
			IncomingAllow: true, OutgoingApplicationSID: "AP1", OutgoingParams: map[string]any{"to": "a,b", "x": "1=2"},
			PushCredentialSID: "CR1", EndpointID: `e\1`,
		}}},
		{name: "voice merged over two flags", specs: []string{"voice:incoming_allow=true", "voice:outgoing_application_sid=AP1"},
			want: credentials.Grants{Voice: &credentials.VoiceGrant{IncomingAllow: true, OutgoingApplicationSID: "AP1"}}},
		{name: "chat", specs: []string{"chat:service_sid=IS1,endpoint_id=e,deployment_role_sid=RL1,push_credential_sid=CR1"},
			want: credentials.Grants{Chat: &credentials.ChatGrant{ServiceSID: "IS1", EndpointID: "e", DeploymentRoleSID: "RL1", PushCredentialSID: "CR1"}}},
		{name: "sync alias", specs: []string{"data_sync:service_sid=IS1,endpoint_id=e"},
			want: credentials.Grants{Sync: &credentials.SyncGrant{ServiceSID: "IS1", EndpointID: "e"}}},
		{name: "taskrouter", specs: []string{"taskrouter:workspace_sid=WS1,worker_sid=WK1,role=worker"},
			want: credentials.Grants{TaskRouter: &credentials.TaskRouterGrant{WorkspaceSID: "WS1", WorkerSID: "WK1", Role: "worker"}}},
		{name: "player verbatim", specs: []string{`player:json={"a":1,"b":[1,2]}`},
			want: credentials.Grants{Player: json.RawMessage(`{"a":1,"b":[1,2]}`)}},
		{name: "unknown kind", specs: []string{"fax:x=1"}, wantErr: "unknown grant kind"},
		{name: "unknown field", specs: []string{"video:rooms=1"}, wantErr: `unknown field "rooms"`},
		{name: "field without value", specs: []string{"video:room"}, wantErr: "needs =value"},
		{name: "field twice", specs: []string{"video:room=a", "video:room=b"}, wantErr: "given twice"},
		{name: "bad bool", specs: []string{"voice:incoming_allow=yes please"}, wantErr: "not true or false"},
		{name: "param without name", specs: []string{"voice:outgoing_param.=1"}, wantErr: "needs a name"},
		{name: "dangling backslash", specs: []string{`video:room=a\`}, wantErr: "backslash"},
		{name: "player not object", specs: []string{"player:json=[1]"}, wantErr: "JSON object"},
		{name: "player without json", specs: []string{"player:a=1"}, wantErr: "json=OBJECT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGrantSpecs(tt.specs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("grants = %#v, want %#v", got, tt.want)
			}
		})
	}
}

type staticKeys struct{ account, secret string }

func (k staticKeys) ResolveKey(context.Context, string) (string, string, error) {
	return k.account, k.secret, nil
}

type staticAccount struct{ token string }

func (a staticAccount) ResolveAccount(context.Context, string) (string, string, error) {
	return a.token, "TK00000000000000000000000000000000", nil
}

func TestRunToken(t *testing.T) {
	const (
		account = "AC00000000000000000000000000000000"
		key     = "SK11111111111111111111111111111111"
		secret  = "golden_api_key_secret_0123456789"
		auth    = "golden_auth_token_0123456789abcd"
		golden  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImN0eSI6InR3aWxpby1mcGE7dj0xIn0.eyJqdGkiOiJTSzExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExLTE3MDAwMDAwMDAiLCJncmFudHMiOnsiaWRlbnRpdHkiOiJhbGljZSIsInZpZGVvIjp7InJvb20iOiJyb29tMSJ9fSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDAsImlzcyI6IlNLMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTEiLCJzdWIiOiJBQzAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIn0.XnUrlIVUrSfo4fw8iu1IwiYzLfUzO3Wk_yvHuKN2jG0"
	)
	now := time.Unix(1700000000, 0)
	env := map[string]string{envKeySecret: secret, envAuthToken: auth}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		stdout   string // substring
		stderr   string // substring
		validate func(t *testing.T, out string)
	}{
		{name: "golden access token, secret from env", args: []string{"access", "--account", account, "--key", key, "--identity", "alice", "--grant", "video:room=room1"}, stdout: golden + "\n"},
		{name: "access with every grant", args: []string{"access", "--account", account, "--key", key, "--secret", secret, "--identity", "bob",
			"--grant", "voice:outgoing_application_sid=AP1,incoming_allow=true,outgoing_param.to=x", "--grant", "chat:service_sid=IS1",
			"--grant", "sync:service_sid=IS2", "--grant", "taskrouter:role=worker", "--grant", `player:json={"p":1}`,
			"--ttl", "7200", "--region", "ie1", "--nbf", "2023-11-14T22:12:20Z"},
			validate: func(t *testing.T, out string) {
				c, err := credentials.VerifyAccessToken(context.Background(), strings.TrimSpace(out), staticKeys{account, secret}, now)
				if err != nil {
					t.Fatal(err)
				}
				if c.Grants.Identity != "bob" || c.Grants.Voice.OutgoingParams["to"] != "x" || c.Region != "ie1" ||
					c.ExpiresAt.Unix() != now.Unix()+7200 || c.NotBefore.Unix() != now.Unix()-60 || string(c.Grants.Player) != `{"p":1}` {
					t.Errorf("claims = %+v", c)
				}
			}},
		{name: "access ttl too long", args: []string{"access", "--account", account, "--key", key, "--identity", "a", "--ttl", "25h"}, code: 2, stderr: "exceeds the maximum"},
		{name: "access bad grant", args: []string{"access", "--account", account, "--key", key, "--identity", "a", "--grant", "fax"}, code: 2, stderr: "unknown grant kind"},
		{name: "access without identity", args: []string{"access", "--account", account, "--key", key}, code: 2, stderr: "identity is required"},
		{name: "capability", args: []string{"capability", "--account", account, "--incoming", "tommy", "--outgoing", "AP22222222222222222222222222222222",
			"--param", "foo=bar baz", "--param", "n=1", "--event-stream", "--event-param", "foo=bar"},
			stdout: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InNjb3BlOmNsaWVudDppbmNvbWluZz9jbGllbnROYW1lPXRvbW15IHNjb3BlOmNsaWVudDpvdXRnb2luZz9hcHBTaWQ9QVAyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMiZjbGllbnROYW1lPXRvbW15JmFwcFBhcmFtcz1mb28lM0RiYXIlMjUyMGJheiUyNm4lM0QxIHNjb3BlOnN0cmVhbTpzdWJzY3JpYmU_cGF0aD0vMjAxMC0wNC0wMS9FdmVudHMmYXBwUGFyYW1zPWZvbyUzRGJhciIsImlzcyI6IkFDMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMH0.zcN35rIclxqpwQPAFTskef3XTMCbewE_GsLA2IJy3P0\n",
			validate: func(t *testing.T, out string) {
				if _, err := credentials.VerifyCapabilityToken(context.Background(), strings.TrimSpace(out), staticAccount{auth}, now); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "capability param without outgoing", args: []string{"capability", "--account", account, "--param", "a=b"}, code: 2, stderr: "need --outgoing"},
		{name: "decode", args: []string{"decode", golden}, stdout: `"signature": "not checked"`, validate: func(t *testing.T, out string) {
			var d tokenDecoded
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatal(err)
			}
			if d.Expired || d.Expires != "2023-11-14T23:13:20Z" || !strings.Contains(string(d.Claims), `"room": "room1"`) ||
				!strings.HasPrefix(string(d.Header), "{\n    \"alg\": \"HS256\",\n    \"typ\"") {
				t.Errorf("decoded = %s", out)
			}
		}},
		{name: "decode verify good", args: []string{"decode", golden, "--secret", secret}, stdout: `"signature": "valid"`},
		{name: "decode verify from env via stdin", args: []string{"decode", "--verify", "-"}, stdin: "Bearer " + golden + "\n", stdout: `"signature": "valid"`},
		{name: "decode lowercase bearer", args: []string{"decode", "--secret", secret, "bearer " + golden}, stdout: `"signature": "valid"`},
		{name: "decode BEARER via stdin", args: []string{"decode", "--verify", "-"}, stdin: "BEARER   " + golden + "\n", stdout: `"signature": "valid"`},
		{name: "decode verify bad", args: []string{"decode", "--secret", "nope", golden}, code: 1, stdout: `"signature": "invalid`},
		{name: "decode garbage", args: []string{"decode", "abc"}, code: 1, stderr: "three dot-separated"},
		{name: "help", args: []string{"-h"}, stderr: "KIND[:FIELD=VALUE"},
		{name: "unknown subcommand", args: []string{"mint"}, code: 2, stderr: "unknown subcommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runTokenEnv(tt.args, &stdout, &stderr, getenv, strings.NewReader(tt.stdin), now)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderr)
			}
			if tt.validate != nil {
				tt.validate(t, stdout.String())
			}
		})
	}
}
