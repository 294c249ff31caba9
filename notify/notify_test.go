package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// receiver records the bodies it gets and answers with codes in turn (then 200).
type receiver struct {
	mu     sync.Mutex // guards bodies and codes
	bodies []string
	codes  []int
	got    chan struct{}
}

func newReceiver(t *testing.T, codes ...int) (*receiver, *httptest.Server) {
	r := &receiver{codes: codes, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		code := http.StatusOK
		if len(r.codes) > 0 {
			code, r.codes = r.codes[0], r.codes[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) wait(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d deliveries, want %d", i, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func start(t *testing.T, opts Options) (*Notifier, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registry, opts.Backoff = reg, time.Millisecond
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx, 2) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, reg
}

var applied = Event{Kind: ApplySucceeded, Repo: "acme/infra", Pull: 12, Project: "network", Workspace: "default", User: "bob",
	Text: "Applied `network` (default) on acme/infra#12 <by bob> & co", URL: "https://atoll.example/jobs/1"}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, format string }{
		{"https://hooks.slack.com/services/T/B/x", FormatSlack},
		{"https://example.com/hook", FormatJSON},
		{"slack+https://chat.example.com/hook", FormatSlack},
		{"json+https://hooks.slack.com/services/T/B/x", FormatJSON},
	} {
		got, err := ParseTarget(tt.in)
		if err != nil || got.Format != tt.format {
			t.Errorf("ParseTarget(%q) = %+v, %v; want format %s", tt.in, got, err, tt.format)
		}
	}
	for _, bad := range []string{"ftp://x/y", "hooks.slack.com/services/secret", "slack+", ""} {
		if _, err := ParseTarget(bad); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseTarget(%q) = %v, want an error that does not repeat the URL", bad, err)
		}
	}
}

// JSON and Slack targets get their formats; a target's event and repo
// filters hold.
func TestFormatsAndFilters(t *testing.T) {
	t.Parallel()
	jr, js := newReceiver(t)
	sr, ss := newReceiver(t)
	_, fs := newReceiver(t)
	n, reg := start(t, Options{Targets: []Target{{URL: js.URL, Format: FormatJSON}, {URL: ss.URL, Format: FormatSlack, Events: []string{ApplySucceeded}},
		{URL: fs.URL, Format: FormatJSON, Repos: []string{"acme/web"}}}})
	n.Notify(applied)
	n.Notify(Event{Kind: PlanFailed, Repo: "acme/infra", Text: "plan failed"})
	// Two workers deliver, so the two events may arrive in either order.
	kinds := map[string]Event{}
	for _, body := range jr.wait(t, 2) {
		var e Event
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("JSON body %s: %v", body, err)
		}
		kinds[e.Kind] = e
	}
	if e := kinds[ApplySucceeded]; e.Project != "network" || e.Pull != 12 || e.Time.IsZero() {
		t.Errorf("apply_succeeded JSON event = %+v", e)
	}
	if e := kinds[PlanFailed]; e.Repo != "acme/infra" || e.Text != "plan failed" {
		t.Errorf("plan_failed JSON event = %+v", e)
	}
	slack := sr.wait(t, 1)
	if want := `{"text":"Applied ` + "`network`" + ` (default) on acme/infra#12 \u0026lt;by bob\u0026gt; \u0026amp; co \u003chttps://atoll.example/jobs/1|Details\u003e"}`; slack[0] != want {
		t.Errorf("Slack body = %s\nwant        %s", slack[0], want)
	}
	time.Sleep(100 * time.Millisecond)
	if sr.count() != 1 {
		t.Errorf("the Slack target filtered to apply_succeeded got %d events", sr.count())
	}
	if v := count(t, reg, ApplySucceeded, "delivered"); v != 2 {
		t.Errorf("delivered apply_succeeded = %v, want 2", v)
	}
}

// 5xx and 429 are retried with backoff until delivered; a 4xx is not.
func TestRetries(t *testing.T) {
	t.Parallel()
	r, srv := newReceiver(t, 502, 429, 200)
	bad, badSrv := newReceiver(t, 404)
	n, reg := start(t, Options{Targets: []Target{{URL: srv.URL, Format: FormatJSON}, {URL: badSrv.URL + "/gone", Format: FormatJSON}}})
	n.Notify(applied)
	if got := r.wait(t, 3); len(got) != 3 {
		t.Errorf("%d attempts, want 3", len(got))
	}
	bad.wait(t, 1)
	time.Sleep(100 * time.Millisecond)
	if bad.count() != 1 {
		t.Errorf("a 404 was retried: %d attempts", bad.count())
	}
	if v := count(t, reg, ApplySucceeded, "failed"); v != 1 {
		t.Errorf("failed = %v, want 1", v)
	}
}

// Notify never blocks: with a hung target and a full queue, events are
// dropped and counted.
func TestNotifyNeverBlocks(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	t.Cleanup(func() { close(hang); srv.Close() })
	n, reg := start(t, Options{QueueSize: 2, Targets: []Target{{URL: srv.URL, Format: FormatJSON}}, Client: &http.Client{Timeout: time.Minute}})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			n.Notify(applied)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked on a hung target")
	}
	if v := count(t, reg, ApplySucceeded, "dropped"); v < 40 {
		t.Errorf("dropped = %v, want most of 50", v)
	}
}

// count returns atoll_notifications_total{event=kind,result=result}.
func count(t *testing.T, reg *prometheus.Registry, kind, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["event"] == kind && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
