package web_test

import (
	"encoding/json"
	"testing"
	"time"
)

// errorBody is the API's error object.
type errorBody struct {
	Error struct {
		Code, Message, Field string
		RetryAt              *time.Time `json:"retry_at"`
	}
}

func decodeError(t testing.TB, b []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error body: %s (%v)", b, err)
	}
	return e
}
