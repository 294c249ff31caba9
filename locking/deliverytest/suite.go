// Package deliverytest is the conformance suite of the webhook delivery logs
// that refuse replayed deliveries (the server's DeliveryLog): locking/bolt's
// Deliveries and cluster's Deliveries run it from their tests. Run covers the
// Add/Remove contract on a fresh log per subtest, RunReopen checks that
// deliveries survive closing and reopening the log, and RunReplicas makes
// several handles on one log (replicas, or callers sharing a database) race.
package deliverytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Log is the method set under test, the server's DeliveryLog.
type Log interface {
	// Add records a delivery by ID and body digest and reports whether it is new.
	Add(ctx context.Context, id, digest string) (bool, error)
	// Remove forgets the delivery's ID and digest.
	Remove(ctx context.Context, id, digest string)
}

// Backend tells the suite how to make logs of one implementation.
type Backend struct {
	// New returns a fresh, empty log that remembers deliveries for retention
	// and reads the time from now. A backend that keeps time itself (Redis
	// key expiry) ignores now and sets RealTime.
	New func(t *testing.T, retention time.Duration, now func() time.Time) Log
	// RealTime says the log does not use now: the retention test then gives it
	// a short retention and waits it out instead of advancing the clock.
	RealTime bool
}

// Digest returns the hex SHA-256 of body, the digest the server records.
func Digest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// Clock is a settable test clock for backends with an injected Now.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// retention is what the suite's logs keep deliveries for (72h, as the server).
const retention = 72 * time.Hour

// env is one subtest's log, clock and backend.
type env struct {
	t     *testing.T
	b     Backend
	log   Log
	clock *Clock
}

// Run runs the conformance suite against logs made by b, one per subtest.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"NewThenReplays", testReplays},
		{"RefusedRecordsNothing", testRefusedRecordsNothing},
		{"EmptyID", testEmptyID},
		{"EmptyDigest", testEmptyDigest},
		{"BothEmpty", testBothEmpty},
		{"DigestCase", testDigestCase},
		{"IDAndDigestApart", testKeysApart},
		{"Remove", testRemove},
		{"RemoveEachKey", testRemoveEachKey},
		{"Retention", testRetention},
		{"CanceledContext", testCanceled},
		{"Concurrent32", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
			tt.fn(&env{t: t, b: b, log: b.New(t, retention, c.Now), clock: c})
		})
	}
}

// step is one Add and its expected answer.
type step struct {
	id, digest string
	want       bool
}

// adds runs steps in order against l.
func adds(t *testing.T, l Log, steps ...step) {
	t.Helper()
	ctx := context.Background()
	for _, s := range steps {
		got, err := l.Add(ctx, s.id, s.digest)
		if err != nil {
			t.Fatalf("Add(%q, %.8s) = %v", s.id, s.digest, err)
		}
		if got != s.want {
			t.Errorf("Add(%q, %.8s) = %t, want %t", s.id, s.digest, got, s.want)
		}
	}
}

// Digests of distinct bodies.
var d1, d2, d3, d4, d9 = Digest("body 1"), Digest("body 2"), Digest("body 3"), Digest("body 4"), Digest("body 9")

func testReplays(e *env) {
	adds(e.t, e.log,
		step{"id-1", d1, true},
		step{"id-1", d1, false}, // GitHub's redelivery, or a plain replay
		step{"id-1", d2, false}, // same ID, another body
		step{"id-2", d1, false}, // a captured body under a new delivery ID
		step{"id-3", d3, true},
		step{"id-3", d1, false},
	)
}

// A refused delivery records neither of its keys.
func testRefusedRecordsNothing(e *env) {
	adds(e.t, e.log,
		step{"id-1", d1, true},
		step{"id-2", d1, false},
		step{"id-1", d2, false},
		step{"id-2", d2, true},
	)
}

// A delivery without an X-GitHub-Delivery header is recognised by its body.
func testEmptyID(e *env) {
	adds(e.t, e.log,
		step{"", d1, true},
		step{"", d1, false},
		step{"id-1", d1, false},
		step{"", d2, true},
	)
}

// An event with only an ID (a drift schedule tick) is recognised by it.
func testEmptyDigest(e *env) {
	adds(e.t, e.log,
		step{"tick-1", "", true},
		step{"tick-1", "", false},
		step{"tick-1", d1, false},
		step{"tick-2", "", true},
		step{"id-1", d1, true},
	)
}

// Nothing to recognise a replay by: refused with an error, never "new".
func testBothEmpty(e *env) {
	ok, err := e.log.Add(context.Background(), "", "")
	if err == nil || ok {
		e.t.Errorf("Add(\"\", \"\") = %t, %v; want false and an error", ok, err)
	}
}

func testDigestCase(e *env) {
	adds(e.t, e.log,
		step{"id-1", d1, true},
		step{"id-2", strings.ToUpper(d1), false},
	)
}

// An ID that happens to equal a digest is not that digest.
func testKeysApart(e *env) {
	adds(e.t, e.log,
		step{d1, d2, true},
		step{"id-1", d1, true},
		step{d2, d3, true},
		step{d1, d4, false},
	)
}

func testRemove(e *env) {
	ctx := context.Background()
	adds(e.t, e.log, step{"id-1", d1, true}, step{"", d2, true})
	e.log.Remove(ctx, "id-1", d1)
	e.log.Remove(ctx, "", d2)
	e.log.Remove(ctx, "never-added", d3) // harmless
	adds(e.t, e.log,
		step{"id-1", d1, true},
		step{"id-1", d1, false},
		step{"", d2, true},
		step{"", d2, false},
		step{"id-3", d3, true},
	)
}

// Remove forgets both keys: each is free on its own afterwards.
func testRemoveEachKey(e *env) {
	ctx := context.Background()
	adds(e.t, e.log, step{"id-1", d1, true})
	e.log.Remove(ctx, "id-1", d1)
	adds(e.t, e.log,
		step{"id-1", d2, true},
		step{"id-2", d1, true},
	)
}

// A delivery is refused for the retention and new again after it.
func testRetention(e *env) {
	if e.b.RealTime {
		// Long enough that the steps between waits never take it, short
		// enough to wait out twice.
		const short = 2 * time.Second
		l := e.b.New(e.t, short, time.Now)
		adds(e.t, l, step{"id-1", d1, true}, step{"id-1", d1, false})
		time.Sleep(short / 2)
		adds(e.t, l, step{"id-2", d2, true})
		time.Sleep(short/2 + 200*time.Millisecond)
		adds(e.t, l,
			step{"id-1", d1, true}, // expired
			step{"id-2", d2, false},
			step{"id-9", d2, false},
		)
		return
	}
	adds(e.t, e.log, step{"id-1", d1, true})
	e.clock.Advance(retention / 2)
	adds(e.t, e.log, step{"id-2", d2, true})
	e.clock.Advance(retention/2 - time.Nanosecond)
	adds(e.t, e.log, step{"id-1", d1, false}, step{"id-9", d1, false}, step{"id-1", d9, false})
	e.clock.Advance(time.Nanosecond)
	adds(e.t, e.log,
		step{"id-1", d3, true}, // the ID expired
		step{"id-4", d1, true}, // the digest too
		step{"id-2", d4, false},
		step{"id-5", d2, false},
	)
	// Recorded again after expiring, it is refused for a whole retention again.
	e.clock.Advance(retention - time.Nanosecond)
	adds(e.t, e.log, step{"id-1", d9, false}, step{"id-6", d1, false})
}

func testCanceled(e *env) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, err := e.log.Add(ctx, "id-1", d1)
	if !errors.Is(err, context.Canceled) || ok {
		e.t.Errorf("Add with a canceled context = %t, %v; want false and context.Canceled", ok, err)
	}
	adds(e.t, e.log, step{"id-1", d1, true})
}

// testConcurrent: 32 goroutines add the same digest (under distinct IDs), then
// the same ID (with distinct digests): exactly one of each wins.
func testConcurrent(e *env) {
	race(e.t, []Log{e.log}, func(i int) (string, string) { return fmt.Sprintf("id-%02d", i), d1 })
	race(e.t, []Log{e.log}, func(i int) (string, string) { return "id-shared", Digest(fmt.Sprint("body ", i)) })
}

// raceN is how many goroutines race.
const raceN = 32

// race makes raceN goroutines, spread over logs, add delivery(i) at once and
// checks that exactly one of them got true.
func race(t *testing.T, logs []Log, delivery func(i int) (id, digest string)) {
	t.Helper()
	start := make(chan struct{})
	type result struct {
		ok  bool
		err error
	}
	results := make([]result, raceN)
	var wg sync.WaitGroup
	for i := range raceN {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, digest := delivery(i)
			<-start
			ok, err := logs[i%len(logs)].Add(context.Background(), id, digest)
			results[i] = result{ok, err}
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("goroutine %d: Add: %v", i, r.err)
		}
		if r.ok {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent Adds of one delivery got true, want exactly 1", won, raceN)
	}
}

// OpenFunc opens a handle on the same log each time it is called in one test
// (the same database file, or the same Redis server and key prefix), and
// returns it with a function that closes what it opened.
type OpenFunc func(t *testing.T) (Log, func() error)

// RunReplicas opens two handles on one log and makes 32 goroutines, spread over
// both, add the same delivery: exactly one gets true, for a shared digest and
// for a shared ID. A delivery one handle recorded is refused by the other, and
// one handle's Remove frees it for the other.
func RunReplicas(t *testing.T, open OpenFunc) {
	a, closeA := open(t)
	b, closeB := open(t)
	defer func() {
		for _, c := range []func() error{closeA, closeB} {
			if err := c(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	}()
	logs := []Log{a, b}
	race(t, logs, func(i int) (string, string) { return fmt.Sprintf("id-%02d", i), d1 })
	// Bodies unlike d1..d9, which the steps below use: the winner records its digest.
	race(t, logs, func(i int) (string, string) { return "id-shared", Digest(fmt.Sprint("racing body ", i)) })
	adds(t, a, step{"id-r", d2, true})
	adds(t, b, step{"id-r", d3, false}, step{"id-s", d2, false})
	b.Remove(context.Background(), "id-r", d2)
	adds(t, a, step{"id-r", d2, true})
}

// RunReopen checks durability: deliveries recorded before closing the log are
// refused after opening it again, and a Remove made after reopening survives
// the next close too.
func RunReopen(t *testing.T, open OpenFunc) {
	mustClose := func(c func() error) {
		t.Helper()
		if err := c(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	l, c := open(t)
	adds(t, l, step{"id-1", d1, true}, step{"", d2, true}, step{"tick-1", "", true})
	mustClose(c)

	l, c = open(t)
	adds(t, l,
		step{"id-1", d1, false},
		step{"id-9", d1, false},
		step{"id-1", d9, false},
		step{"id-8", d2, false},
		step{"tick-1", "", false},
		step{"id-3", d3, true},
	)
	l.Remove(context.Background(), "id-1", d1)
	mustClose(c)

	l, c = open(t)
	defer mustClose(c)
	adds(t, l,
		step{"id-1", d1, true},
		step{"id-3", d4, false},
		step{"", d2, false},
	)
}
