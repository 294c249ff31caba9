package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking/bolt"
	"github.com/atollhq/atoll/vcs"
)

// flakyDeliveries is a replay log whose store can be "down".
type flakyDeliveries struct {
	mu   sync.Mutex // guards down and seen
	down bool
	seen map[string]bool
}

func (d *flakyDeliveries) Add(_ context.Context, id, digest string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return false, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	if d.seen[digest] || (id != "" && d.seen["id:"+id]) {
		return false, nil
	}
	d.seen[digest], d.seen["id:"+id] = true, true
	return true, nil
}

func (d *flakyDeliveries) Remove(_ context.Context, id, digest string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, digest)
	delete(d.seen, "id:"+id)
}

func (d *flakyDeliveries) setDown(v bool) {
	d.mu.Lock()
	d.down = v
	d.mu.Unlock()
}

// While the shared replay log is down, webhooks are answered 202 and kept in
// the spool (a redelivery of one only once); when it is back they are queued
// in order, and one the log already knows (another replica handled it) is
// dropped.
func TestSpoolKeepsWebhooksWhileStoreIsDown(t *testing.T) {
	t.Parallel()
	spool, err := bolt.New(filepath.Join(t.TempDir(), "spool.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spool.Close() })
	acme := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	dl := &flakyDeliveries{seen: map[string]bool{}, down: true}
	d := &countingDispatcher{}
	parser := &switchParser{}
	s, _ := newTestServer(t, Config{Parser: parser, Dispatcher: d, Deliveries: dl, Spool: spool})

	send := func(delivery, digest string, num int) string {
		t.Helper()
		parser.set(vcs.Event{Kind: vcs.EventPullOpened, DeliveryID: delivery, BodyDigest: digest, Repo: acme, Pull: vcs.PullRequest{Num: num}})
		rec := do(t, s.Handler(), http.MethodPost, "/events", nil)
		if rec.Code != http.StatusAccepted && rec.Code != http.StatusOK {
			t.Fatalf("POST /events = %d %q", rec.Code, rec.Body.String())
		}
		return rec.Body.String()
	}
	if got := send("d1", "b1", 1); !strings.Contains(got, "local spool") {
		t.Errorf("answer = %q, want it to say the webhook is spooled", got)
	}
	send("d2", "b2", 2)
	if got := send("d1", "b1", 1); !strings.Contains(got, "already handled") {
		t.Errorf("redelivery answer = %q, want a replay refusal", got)
	}
	send("d3", "b3", 3)
	if len(d.works) != 0 {
		t.Fatalf("%d jobs dispatched while the store was down", len(d.works))
	}
	ctx := context.Background()
	if err := s.DrainSpool(ctx); err == nil {
		t.Fatal("DrainSpool succeeded while the store was down")
	}
	// Another replica handled #3's delivery in the meantime.
	dl.setDown(false)
	if fresh, _ := dl.Add(ctx, "d3", "b3"); !fresh {
		t.Fatal("setup: d3 already seen")
	}
	if err := s.DrainSpool(ctx); err != nil {
		t.Fatalf("DrainSpool: %v", err)
	}
	var nums []int
	for _, w := range d.works {
		nums = append(nums, w.Pull.Num)
		if w.BodyDigest != "" {
			t.Errorf("queued work still carries its spool digest")
		}
	}
	if len(nums) != 2 || nums[0] != 1 || nums[1] != 2 {
		t.Errorf("queued pulls %v, want [1 2] (in order; #3 was handled elsewhere)", nums)
	}
	if left, _ := spool.Jobs(ctx); len(left) != 0 {
		t.Errorf("%d webhooks left in the spool", len(left))
	}
	// The journal holds the queued jobs, as for any webhook.
	if recs, _ := s.cfg.Store.Jobs(ctx); len(recs) != 2 {
		t.Errorf("journal has %d records, want 2", len(recs))
	}
	// The repository is remembered for the poller once its work is queued.
	if repos, _ := s.cfg.Store.Repos(ctx); len(repos) != 1 || repos[0].ID != acme.ID() {
		t.Errorf("repositories seen = %+v, want %s", repos, acme.ID())
	}
}

// switchParser returns whatever event it was last set to.
type switchParser struct {
	mu sync.Mutex // guards ev
	ev vcs.Event
}

func (p *switchParser) set(ev vcs.Event) {
	p.mu.Lock()
	ev.Comment.CreatedAt = time.Now()
	p.ev = ev
	p.mu.Unlock()
}

func (p *switchParser) Parse(*http.Request) (vcs.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ev, nil
}
