package tokenapi

import (
	"encoding/json"
	"net/url"
	"testing"
)

// TestPageEnvelopeBytes pins the list envelopes' wire form: the items
// field first, then Twilio's paging fields in its order, nulls spelled out.
func TestPageEnvelopeBytes(t *testing.T) {
	pr := pageRequest{size: 2, page: 1, token: "PAcur"}
	meta := pr.meta("/2010-04-01/Accounts.json", url.Values{"Status": {"active"}}, 2, "PAnext")
	last := pageRequest{size: 50}.meta("/2010-04-01/Accounts/AC1/Keys.json", nil, 0, "")
	const tail = `"end":3,"first_page_uri":"/2010-04-01/Accounts.json?Page=0\u0026PageSize=2\u0026Status=active",` +
		`"next_page_uri":"/2010-04-01/Accounts.json?Page=2\u0026PageSize=2\u0026PageToken=PAnext\u0026Status=active",` +
		`"page":1,"page_size":2,"previous_page_uri":null,"start":2,` +
		`"uri":"/2010-04-01/Accounts.json?Page=1\u0026PageSize=2\u0026PageToken=PAcur\u0026Status=active"}`
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"accounts", accountList{Accounts: []accountResource{}, pageMeta: meta}, `{"accounts":[],` + tail},
		{"keys", keyList{Keys: []keyResource{}, pageMeta: meta}, `{"keys":[],` + tail},
		{"usage records", usageRecordList{UsageRecords: []usageRecord{}, pageMeta: meta}, `{"usage_records":[],` + tail},
		{"last empty page", keyList{Keys: []keyResource{}, pageMeta: last}, `{"keys":[],"end":0,` +
			`"first_page_uri":"/2010-04-01/Accounts/AC1/Keys.json?Page=0\u0026PageSize=50","next_page_uri":null,` +
			`"page":0,"page_size":50,"previous_page_uri":null,"start":0,` +
			`"uri":"/2010-04-01/Accounts/AC1/Keys.json?Page=0\u0026PageSize=50"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
