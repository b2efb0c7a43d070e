package credentials

import (
	"encoding/json"
	"fmt"
)

// Grants is the "grants" claim of an Access Token. Fields are declared in the
// order twilio-node emits them for tokens built identity-first, so tokens
// minted here can match the helper library byte for byte. A nil grant is
// omitted; a non-nil empty grant is sent as {} just as the helper library
// sends a grant constructed without options.
type Grants struct {
	Identity   string           `json:"identity,omitempty"`
	Voice      *VoiceGrant      `json:"voice,omitempty"`
	Video      *VideoGrant      `json:"video,omitempty"`
	Chat       *ChatGrant       `json:"chat,omitempty"`
	Sync       *SyncGrant       `json:"data_sync,omitempty"`
	TaskRouter *TaskRouterGrant `json:"task_router,omitempty"`
	// Player is the Playback grant Twilio Live returns from its API. It is
	// opaque to us and passed through exactly; it must be a JSON object.
	Player json.RawMessage `json:"player,omitempty"`
}

// VideoGrant lets the holder join a Programmable Video room.
type VideoGrant struct {
	Room string `json:"room,omitempty"`
}

// ChatGrant is the Conversations/Chat grant.
type ChatGrant struct {
	ServiceSID        string `json:"service_sid,omitempty"`
	EndpointID        string `json:"endpoint_id,omitempty"`
	DeploymentRoleSID string `json:"deployment_role_sid,omitempty"`
	PushCredentialSID string `json:"push_credential_sid,omitempty"`
}

// SyncGrant is the Sync grant, sent as "data_sync".
type SyncGrant struct {
	ServiceSID string `json:"service_sid,omitempty"`
	EndpointID string `json:"endpoint_id,omitempty"`
}

// TaskRouterGrant is the TaskRouter grant, sent as "task_router".
type TaskRouterGrant struct {
	WorkspaceSID string `json:"workspace_sid,omitempty"`
	WorkerSID    string `json:"worker_sid,omitempty"`
	Role         string `json:"role,omitempty"`
}

// VoiceGrant is the Programmable Voice grant. It is flat for callers; on the
// wire incoming and outgoing are nested objects (see voiceWire).
type VoiceGrant struct {
	// IncomingAllow is sent as incoming.allow, and only when true: Twilio's
	// libraries never send allow:false.
	IncomingAllow bool
	// OutgoingApplicationSID is the TwiML app dialled for outgoing calls;
	// outgoing (and with it OutgoingParams) is sent only when it is set.
	OutgoingApplicationSID string
	// OutgoingParams are passed to the TwiML app; any JSON values.
	OutgoingParams    map[string]any
	PushCredentialSID string
	EndpointID        string
}

type voiceWire struct {
	Incoming          *voiceIncomingWire `json:"incoming,omitempty"`
	Outgoing          *voiceOutgoingWire `json:"outgoing,omitempty"`
	PushCredentialSID string             `json:"push_credential_sid,omitempty"`
	EndpointID        string             `json:"endpoint_id,omitempty"`
}

type voiceIncomingWire struct {
	Allow bool `json:"allow"`
}

type voiceOutgoingWire struct {
	ApplicationSID string         `json:"application_sid,omitempty"`
	Params         map[string]any `json:"params,omitempty"`
}

// MarshalJSON writes the nested wire form.
func (v VoiceGrant) MarshalJSON() ([]byte, error) {
	w := voiceWire{PushCredentialSID: v.PushCredentialSID, EndpointID: v.EndpointID}
	if v.IncomingAllow {
		w.Incoming = &voiceIncomingWire{Allow: true}
	}
	if v.OutgoingApplicationSID != "" {
		w.Outgoing = &voiceOutgoingWire{ApplicationSID: v.OutgoingApplicationSID, Params: v.OutgoingParams}
	}
	// Nested marshalling must not HTML-escape either: the outer encoder's
	// setting does not reach inside a MarshalJSON result.
	return marshalJSON(w)
}

// UnmarshalJSON reads the nested wire form. Params are kept even without an
// application SID so a verifier sees everything the token carries.
func (v *VoiceGrant) UnmarshalJSON(b []byte) error {
	var w voiceWire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("voice grant: %w", err)
	}
	*v = VoiceGrant{PushCredentialSID: w.PushCredentialSID, EndpointID: w.EndpointID}
	if w.Incoming != nil {
		v.IncomingAllow = w.Incoming.Allow
	}
	if w.Outgoing != nil {
		v.OutgoingApplicationSID = w.Outgoing.ApplicationSID
		v.OutgoingParams = w.Outgoing.Params
	}
	return nil
}

// validate checks what the JSON encoding cannot: the Playback grant must be
// a JSON object, since clients read fields from it.
func (g Grants) validate() error {
	if g.Identity == "" {
		return fmt.Errorf("identity is required")
	}
	if len(g.Player) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(g.Player, &obj); err != nil || obj == nil {
			return fmt.Errorf("player grant must be a JSON object")
		}
	}
	return nil
}
