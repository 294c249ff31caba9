package vcstest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-github/v60/github"
)

// rawDelivery is what a receiver saw of one delivery.
type rawDelivery struct {
	event, delivery, sig256, sig1 string
	hasEvent                      bool
	body                          string
	verified                      bool // the SHA-256 signature verifies with testSecret
}

func TestSendRawWebhook(t *testing.T) {
	t.Parallel()
	got := make(chan rawDelivery, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, hasEvent := r.Header["X-Github-Event"]
		d := rawDelivery{
			event: r.Header.Get("X-GitHub-Event"), delivery: r.Header.Get("X-GitHub-Delivery"),
			sig256: r.Header.Get("X-Hub-Signature-256"), sig1: r.Header.Get("X-Hub-Signature"),
			hasEvent: hasEvent, body: string(body),
		}
		d.verified = d.sig256 != "" && github.ValidateSignature(d.sig256, body, []byte(testSecret)) == nil
		got <- d
		if !d.verified {
			http.Error(w, "signature does not verify", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("queued " + d.event))
	}))
	t.Cleanup(recv.Close)
	s := newServer(t, Options{WebhookSecret: testSecret})
	ctx := testCtx(t)

	if _, _, err := s.SendRawWebhook(ctx, "ping", []byte(`{}`), SignWithSecret); !errors.Is(err, ErrNoWebhookURL) {
		t.Errorf("SendRawWebhook without a URL: %v, want ErrNoWebhookURL", err)
	}
	s.SetWebhookURL(recv.URL)

	// Not JSON at all, under an event GitHub never sends: delivered as is.
	const forged = `{"action":"created","repository":{"clone_url":"https://evil.example/x.git"}} trailing`
	tests := []struct {
		name, event string
		mode        SignMode
		wantStatus  int
		wantAnswer  string
		check       func(d rawDelivery) bool
	}{
		{"signed", "issue_comment", SignWithSecret, http.StatusAccepted, "queued issue_comment",
			func(d rawDelivery) bool { return d.verified && d.sig1 != "" && d.event == "issue_comment" }},
		{"unsigned", "issue_comment", SignNone, http.StatusUnauthorized, "signature does not verify\n",
			func(d rawDelivery) bool { return d.sig256 == "" && d.sig1 == "" }},
		{"wrong secret", "pull_request", SignWrongSecret, http.StatusUnauthorized, "signature does not verify\n",
			func(d rawDelivery) bool { return d.sig256 != "" && !d.verified }},
		{"any event name", "made_up_event", SignWithSecret, http.StatusAccepted, "queued made_up_event",
			func(d rawDelivery) bool { return d.verified && d.event == "made_up_event" }},
		{"no event header", "", SignWithSecret, http.StatusAccepted, "queued ",
			func(d rawDelivery) bool { return !d.hasEvent }},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		status, answer, err := s.SendRawWebhook(ctx, tt.event, []byte(forged), tt.mode)
		if err != nil || status != tt.wantStatus || string(answer) != tt.wantAnswer {
			t.Errorf("%s: SendRawWebhook = %d %q %v; want %d %q", tt.name, status, answer, err, tt.wantStatus, tt.wantAnswer)
		}
		d := <-got
		if d.body != forged || !tt.check(d) {
			t.Errorf("%s: receiver saw %+v", tt.name, d)
		}
		if ids[d.delivery] || d.delivery == "" {
			t.Errorf("%s: delivery ID %q is empty or reused", tt.name, d.delivery)
		}
		ids[d.delivery] = true
	}
	if n := len(s.Deliveries()); n != len(tests) {
		t.Errorf("%d deliveries recorded, want %d", n, len(tests))
	}
	if last := s.Deliveries()[len(tests)-1]; last.Status != http.StatusAccepted || last.Action != "" {
		t.Errorf("last delivery = %+v", last)
	}
	if _, _, err := s.SendRawWebhook(ctx, "ping", nil, SignMode(42)); err == nil {
		t.Error("SendRawWebhook with an unknown sign mode succeeded")
	}
}
