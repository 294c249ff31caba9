package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/atollhq/atoll/vcs"
)

// failingDispatcher refuses work, as a shutting-down server does.
type failingDispatcher struct{}

func (failingDispatcher) Dispatch(context.Context, Work) error { return errors.New("shutting down") }

// A delivery already acted on is not acted on again: a signed webhook never
// expires, so a captured `atoll apply` could otherwise be replayed, under its
// own delivery ID or a new one.
func TestEventsRefuseReplayedDelivery(t *testing.T) {
	t.Parallel()
	acme := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	event := func(delivery, digest string) fakeParser {
		return fakeParser{ev: vcs.Event{Kind: vcs.EventComment, DeliveryID: delivery, BodyDigest: digest, Repo: acme, Pull: vcs.PullRequest{Num: 1},
			Comment: vcs.Comment{Body: "atoll apply", User: "bob", CreatedAt: time.Now()}}}
	}
	type delivery struct{ id, digest string }
	tests := []struct {
		name       string
		deliveries []delivery
		want       []int
		dispatched int
	}{
		{"replay refused", []delivery{{"d1", "b1"}, {"d1", "b1"}}, []int{http.StatusAccepted, http.StatusOK}, 1},
		{"same body under a new delivery id", []delivery{{"d1", "b1"}, {"d2", "b1"}}, []int{http.StatusAccepted, http.StatusOK}, 1},
		{"same id, other body", []delivery{{"d1", "b1"}, {"d1", "b2"}}, []int{http.StatusAccepted, http.StatusOK}, 1},
		{"distinct deliveries", []delivery{{"d1", "b1"}, {"d2", "b2"}}, []int{http.StatusAccepted, http.StatusAccepted}, 2},
		{"no delivery id, distinct bodies", []delivery{{"", "b1"}, {"", "b2"}}, []int{http.StatusAccepted, http.StatusAccepted}, 2},
		{"no delivery id, same body", []delivery{{"", "b1"}, {"", "b1"}}, []int{http.StatusAccepted, http.StatusOK}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &countingDispatcher{}
			s, _ := newTestServer(t, Config{Dispatcher: d})
			for i, dl := range tt.deliveries {
				s.cfg.Parser = event(dl.id, dl.digest)
				if rec := do(t, s.Handler(), http.MethodPost, "/events", nil); rec.Code != tt.want[i] {
					t.Errorf("delivery %d (%+v) = %d %q, want %d", i, dl, rec.Code, rec.Body.String(), tt.want[i])
				}
			}
			if len(d.works) != tt.dispatched {
				t.Errorf("dispatched %d jobs, want %d", len(d.works), tt.dispatched)
			}
		})
	}

	// A delivery that could not be queued may be redelivered.
	s, _ := newTestServer(t, Config{Dispatcher: failingDispatcher{}, Parser: event("d9", "b9")})
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
	ctx := context.Background()
	d := newDeliverySet()
	for i := 0; i <= maxDeliveries; i++ {
		if ok, _ := d.Add(ctx, strconv.Itoa(i), "sha"+strconv.Itoa(i)); !ok {
			t.Fatalf("Add(%d) = false for a new delivery", i)
		}
	}
	if len(d.seen) != 2*maxDeliveries || len(d.order) != 2*maxDeliveries {
		t.Errorf("set holds %d keys (%d in order), want %d", len(d.seen), len(d.order), 2*maxDeliveries)
	}
	if ok, _ := d.Add(ctx, strconv.Itoa(maxDeliveries), "new"); ok {
		t.Errorf("the newest id was forgotten")
	}
	if ok, _ := d.Add(ctx, "0", "sha0"); !ok {
		t.Errorf("the oldest delivery is still remembered past the bound")
	}
	if _, err := d.Add(ctx, "", ""); err == nil {
		t.Errorf("Add with neither id nor digest = nil error")
	}
}
