package testkit

import (
	"encoding/json"
	"net/http"
	"testing"
)

// APIServer is a server a test calls over its HTTP API, failing the test
// on an error (servers.Server is one).
type APIServer interface {
	MustDo(t testing.TB, method, path, token string, body []byte) []byte
}

// PutNomadVariable writes the Nomad variable at path with one item,
// value=value.
func PutNomadVariable(t testing.TB, nomad APIServer, path, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"Items": map[string]string{"value": value}})
	nomad.MustDo(t, http.MethodPut, "/v1/var/"+path, "", body)
}

// NomadVariable reads the item "value" of the Nomad variable at path.
func NomadVariable(t testing.TB, nomad APIServer, path string) string {
	t.Helper()
	var v struct{ Items map[string]string }
	if err := json.Unmarshal(nomad.MustDo(t, http.MethodGet, "/v1/var/"+path, "", nil), &v); err != nil {
		t.Fatalf("decoding variable %s: %v", path, err)
	}
	return v.Items["value"]
}
