// Package notify delivers Atoll's events (an apply that succeeded or failed, a
// plan that failed, drift found or resolved, a lock held too long) to webhook
// URLs: Slack incoming webhooks or any endpoint taking JSON. Delivery runs in
// the background with retries and backoff and never blocks a job: a full
// queue drops the event, counted and logged.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Event kinds.
const (
	ApplySucceeded = "apply_succeeded"
	ApplyFailed    = "apply_failed"
	PlanFailed     = "plan_failed"
	DriftOpened    = "drift_opened"
	DriftResolved  = "drift_resolved"
	LockStale      = "lock_stale"
)

// Kinds are every event kind, for validation.
var Kinds = []string{ApplySucceeded, ApplyFailed, PlanFailed, DriftOpened, DriftResolved, LockStale}

// Formats of a target.
const (
	FormatSlack = "slack"
	FormatJSON  = "json"
)

// Event is one thing that happened.
type Event struct {
	Kind  string    `json:"event"`
	Time  time.Time `json:"time"`
	Repo  string    `json:"repo"` // owner/name
	Pull  int       `json:"pull,omitempty"`
	Issue int       `json:"issue,omitempty"`
	// Project is the project's name, or its directory when it has none.
	Project   string `json:"project,omitempty"`
	Workspace string `json:"workspace,omitempty"`
	User      string `json:"user,omitempty"`
	Commit    string `json:"commit,omitempty"`
	// Text is one line for people: what happened, where, and what to do.
	Text string `json:"text"`
	// URL links to where to look: the job's log, the pull request or issue.
	URL string `json:"url,omitempty"`
}

// Target is where events go.
type Target struct {
	URL    string
	Format string
	// Events are the kinds sent; empty sends every kind.
	Events []string
	// Repos limits the target to these "owner/name" repositories; empty is all.
	Repos []string
}

// wants reports whether t takes e.
func (t Target) wants(e Event) bool {
	return (len(t.Events) == 0 || slices.Contains(t.Events, e.Kind)) && (len(t.Repos) == 0 || slices.Contains(t.Repos, e.Repo))
}

// ParseTarget reads a --notify-url value: "https://hooks.slack.com/..." is
// sent in Slack's format, other http(s) URLs as JSON; a "slack+" or "json+"
// prefix chooses the format explicitly.
func ParseTarget(s string) (Target, error) {
	t := Target{Format: FormatJSON}
	explicit := false
	if f, rest, ok := strings.Cut(s, "+"); ok && (f == FormatSlack || f == FormatJSON) {
		t.Format, s, explicit = f, rest, true
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The URL may hold a token: the error does not repeat it.
		return Target{}, errors.New("a notification URL must be an http(s) URL, optionally prefixed by slack+ or json+")
	}
	if !explicit && strings.EqualFold(u.Hostname(), "hooks.slack.com") {
		t.Format = FormatSlack
	}
	t.URL = s
	return t, nil
}

// Options configure a Notifier.
type Options struct {
	Targets []Target
	// QueueSize bounds events waiting for delivery (1000 when 0).
	QueueSize int
	// Attempts bounds deliveries of one event to one target (5 when 0).
	Attempts int
	// Backoff is the wait before the first retry, doubled each time up to
	// 30s (1s when 0).
	Backoff time.Duration
	Client  *http.Client
	Logger  *slog.Logger
	// Registry receives the notifier's metrics; optional.
	Registry prometheus.Registerer
}

type delivery struct {
	t Target
	e Event
}

// Notifier delivers events. Create it with New, start Run, then Notify.
type Notifier struct {
	opts  Options
	queue chan delivery
	log   *slog.Logger
	sent  *prometheus.CounterVec
}

// New returns a Notifier for opts.
func New(opts Options) (*Notifier, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{opts: opts, queue: make(chan delivery, opts.QueueSize), log: opts.Logger,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_notifications_total",
			Help: "Notifications by event kind and result (delivered, failed after retries, dropped with a full queue)."}, []string{"event", "result"})}
	if opts.Registry != nil {
		if err := opts.Registry.Register(n.sent); err != nil {
			return nil, fmt.Errorf("register notification metrics: %w", err)
		}
	}
	return n, nil
}

// Notify queues e for every target that wants it (and extra, the targets of
// e's repository from repos.yaml). It never blocks.
func (n *Notifier) Notify(e Event, extra ...Target) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	for _, t := range append(slices.Clone(n.opts.Targets), extra...) {
		if !t.wants(e) {
			continue
		}
		select {
		case n.queue <- delivery{t, e}:
		default:
			n.sent.WithLabelValues(e.Kind, "dropped").Inc()
			n.log.Error("notification queue full; event dropped", "event", e.Kind, "repo", e.Repo)
		}
	}
}

// Run delivers queued events with workers workers until ctx ends; events
// still queued then are dropped.
func (n *Notifier) Run(ctx context.Context, workers int) {
	if workers <= 0 {
		workers = 2
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case d := <-n.queue:
					n.deliver(ctx, d)
				}
			}
		}()
	}
	wg.Wait()
}

// deliver sends d, retrying 5xx, 429 and network errors with backoff.
func (n *Notifier) deliver(ctx context.Context, d delivery) {
	body, err := encode(d.t.Format, d.e)
	if err != nil {
		n.log.Error("encode notification", "event", d.e.Kind, "error", err)
		return
	}
	wait := n.opts.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := n.post(ctx, d.t.URL, body)
		if err == nil {
			n.sent.WithLabelValues(d.e.Kind, "delivered").Inc()
			return
		}
		if !retry || attempt >= n.opts.Attempts || ctx.Err() != nil {
			n.sent.WithLabelValues(d.e.Kind, "failed").Inc()
			n.log.Error("notification not delivered", "event", d.e.Kind, "repo", d.e.Repo, "target", redactURL(d.t.URL),
				"attempts", attempt, "error", err)
			return
		}
		// Jitter keeps many replicas from retrying in step.
		t := time.NewTimer(wait + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			n.sent.WithLabelValues(d.e.Kind, "failed").Inc()
			return
		case <-t.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// post sends body once; retry says whether a failure may pass.
func (n *Notifier) post(ctx context.Context, target string, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("bad notification URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "atoll-notify")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("answered %d", resp.StatusCode)
	}
}

// redactURL keeps a URL's scheme and host only: Slack's webhook URLs carry
// their secret in the path.
func redactURL(s string) string {
	u, err := url.Parse(strings.TrimPrefix(strings.TrimPrefix(s, "slack+"), "json+"))
	if err != nil {
		return "(unreadable URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// encode renders e for format.
func encode(format string, e Event) ([]byte, error) {
	if format == FormatSlack {
		// Slack reads &, < and > as markup.
		text := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(e.Text)
		if e.URL != "" {
			text += " <" + e.URL + "|Details>"
		}
		return json.Marshal(map[string]string{"text": text})
	}
	return json.Marshal(e)
}
