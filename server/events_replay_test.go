package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/atollhq/atoll/vcs"
)

// failingDispatcher refuses work, as a shutting-down server does.
type failingDispatcher struct{}

func (failingDispatcher) Dispatch(context.Context, Work) error { return errors.New("shutting down") }

// A delivery already acted on is not acted on again: a signed webhook never
// expires, so a captured `atoll apply` could otherwise be replayed.
func TestEventsRefuseReplayedDelivery(t *testing.T) {
	t.Parallel()
	acme := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	event := func(delivery string) fakeParser {
		return fakeParser{ev: vcs.Event{Kind: vcs.EventComment, DeliveryID: delivery, Repo: acme, Pull: vcs.PullRequest{Num: 1},
			Comment: vcs.Comment{Body: "atoll apply", User: "bob"}}}
	}
	tests := []struct {
		name       string
		deliveries []string
		want       []int
		dispatched int
	}{
		{"replay refused", []string{"d1", "d1"}, []int{http.StatusAccepted, http.StatusOK}, 1},
		{"distinct deliveries", []string{"d1", "d2"}, []int{http.StatusAccepted, http.StatusAccepted}, 2},
		{"no delivery id", []string{"", ""}, []int{http.StatusAccepted, http.StatusAccepted}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &countingDispatcher{}
			s, _ := newTestServer(t, Config{Dispatcher: d})
			for i, id := range tt.deliveries {
				s.cfg.Parser = event(id)
				if rec := do(t, s.Handler(), http.MethodPost, "/events", nil); rec.Code != tt.want[i] {
					t.Errorf("delivery %d (%q) = %d %q, want %d", i, id, rec.Code, rec.Body.String(), tt.want[i])
				}
			}
			if len(d.works) != tt.dispatched {
				t.Errorf("dispatched %d jobs, want %d", len(d.works), tt.dispatched)
			}
		})
	}

	// A delivery that could not be queued may be redelivered.
	s, _ := newTestServer(t, Config{Dispatcher: failingDispatcher{}, Parser: event("d9")})
	if rec := do(t, s.Handler(), http.MethodPost, "/events", nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("delivery while shutting down = %d, want 503", rec.Code)
	}
	d := &countingDispatcher{}
	s.cfg.Dispatcher = d
	if rec := do(t, s.Handler(), http.MethodPost, "/events", nil); rec.Code != http.StatusAccepted || len(d.works) != 1 {
		t.Errorf("redelivery after a refusal = %d with %d jobs, want 202 with 1", rec.Code, len(d.works))
	}
}

func TestDeliverySetForgetsOldest(t *testing.T) {
	t.Parallel()
	d := newDeliverySet()
	for i := 0; i <= maxDeliveries; i++ {
		if !d.add(strconv.Itoa(i)) {
			t.Fatalf("add(%d) = false for a new id", i)
		}
	}
	if len(d.seen) != maxDeliveries || len(d.order) != maxDeliveries {
		t.Errorf("set holds %d ids (%d in order), want %d", len(d.seen), len(d.order), maxDeliveries)
	}
	if d.add(strconv.Itoa(maxDeliveries)) {
		t.Errorf("the newest id was forgotten")
	}
	if !d.add("0") {
		t.Errorf("the oldest id is still remembered past the bound")
	}
}
