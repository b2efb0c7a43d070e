package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// webrtcInput is what clients/node/webrtc.js reads.
type webrtcInput struct {
	ICEServers []json.RawMessage `json:"iceServers"`
	KeepURLs   []string          `json:"keepUrls,omitempty"`
	MediaMs    int               `json:"mediaMs"`
	TimeoutMs  int               `json:"timeoutMs"`
	Messages   int               `json:"messages"`
	Chromium   string            `json:"chromium"`
}

// webrtcResult is the JSON line webrtc.js prints.
type webrtcResult struct {
	OK              bool              `json:"ok"`
	Problems        []string          `json:"problems"`
	Connected       bool              `json:"connected"`
	Gathering       map[string]string `json:"gathering"`
	CandidateErrors []struct {
		PC        string `json:"pc"`
		ErrorCode int    `json:"errorCode"`
		ErrorText string `json:"errorText"`
		URL       string `json:"url"`
	} `json:"candidateErrors"`
	Candidates struct {
		A []string `json:"a"`
		B []string `json:"b"`
	} `json:"candidates"`
	MessagesReceived struct {
		AFromB int `json:"aFromB"`
		BFromA int `json:"bFromA"`
	} `json:"messagesReceived"`
	Selected struct {
		A selectedPair `json:"a"`
		B selectedPair `json:"b"`
	} `json:"selected"`
	Events []string `json:"events"`
}

type selectedPair struct {
	LocalCandidateType   string `json:"localCandidateType"`
	LocalRelayProtocol   string `json:"localRelayProtocol"`
	LocalURL             string `json:"localUrl"`
	RemoteCandidateType  string `json:"remoteCandidateType"`
	AudioPacketsReceived int    `json:"audioPacketsReceived"`
}

// summary is the one line each case prints.
func (r webrtcResult) summary() string {
	return fmt.Sprintf("candidates a=%s/%s(%s) b=%s/%s(%s); messages a<-b %d, b<-a %d; audio packets received by b %d",
		r.Selected.A.LocalCandidateType, r.Selected.A.RemoteCandidateType, r.Selected.A.LocalRelayProtocol,
		r.Selected.B.LocalCandidateType, r.Selected.B.RemoteCandidateType, r.Selected.B.LocalRelayProtocol,
		r.MessagesReceived.AFromB, r.MessagesReceived.BFromA, r.Selected.B.AudioPacketsReceived)
}

// runWebRTC runs webrtc.js in the namespace and decodes its JSON line. A
// non-zero exit is not an error here: the negative case expects one, and
// callers judge the decoded result.
func runWebRTC(t *testing.T, ns *netns, in webrtcInput) (webrtcResult, []byte) {
	t.Helper()
	if in.MediaMs == 0 {
		in.MediaMs = 3000
	}
	if in.TimeoutMs == 0 {
		in.TimeoutMs = 20000
	}
	if in.Messages == 0 {
		in.Messages = 10
	}
	in.Chromium = chromiumPath()
	arg, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("encoding webrtc.js input: %v", err)
	}
	// Chromium start, the page's own deadline and shutdown, with margin.
	limit := time.Duration(in.TimeoutMs+in.MediaMs)*time.Millisecond + 60*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	dir := filepath.Join(testenv.ModuleRoot(t), "clients", "node")
	cmd := ns.command(ctx, "node", filepath.Join(dir, "webrtc.js"), string(arg))
	cmd.Dir = dir
	out, errOut, runErr := runOut(ctx, cmd)
	line := lastLine(out)
	var r webrtcResult
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("webrtc.js printed no JSON result (exit: %v): %v\nstdout: %s\nstderr: %s", runErr, err, out, errOut)
	}
	if r.OK != (runErr == nil) {
		t.Errorf("webrtc.js exit (%v) disagrees with its result ok=%v", runErr, r.OK)
	}
	return r, line
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}
