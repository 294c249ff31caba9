package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// reply is one scripted response of a scriptedHandler.
type reply struct {
	status int
	header map[string]string
	body   string
	hangUp bool // close the connection without answering
}

// scriptedHandler answers the i-th request with replies[i] (the last reply
// repeats) and records each request's body.
type scriptedHandler struct {
	t       *testing.T
	replies []reply

	mu     sync.Mutex
	bodies []string // guarded by mu
}

func (h *scriptedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	i := len(h.bodies)
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
	if i >= len(h.replies) {
		i = len(h.replies) - 1
	}
	rep := h.replies[i]
	if rep.hangUp {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			h.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	fmt.Fprint(w, rep.body)
}

func (h *scriptedHandler) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

var (
	okPull    = reply{status: 200, body: `{"number":7,"state":"open"}`}
	okComment = reply{status: 201, body: `{"id":99}`}
)

func TestRetry(t *testing.T) {
	t.Parallel()
	resetIn5s := strconv.FormatInt(testNow.Add(5*time.Second).Unix(), 10)
	tests := []struct {
		name       string
		post       bool // CreateComment instead of GetPullRequest
		maxRetries int
		replies    []reply
		wantErr    bool
		wantCalls  int
		wantSleeps []time.Duration
	}{
		{
			name:       "GET 503 twice then 200",
			replies:    []reply{{status: 503}, {status: 503}, okPull},
			wantCalls:  3,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:       "GET 502 and 504 retried",
			replies:    []reply{{status: 502}, {status: 504}, okPull},
			wantCalls:  3,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:       "GET 503 honours Retry-After",
			replies:    []reply{{status: 503, header: map[string]string{"Retry-After": "4"}}, okPull},
			wantCalls:  2,
			wantSleeps: []time.Duration{4 * time.Second},
		},
		{
			name:       "GET gives up after MaxRetries",
			replies:    []reply{{status: 503}},
			wantErr:    true,
			wantCalls:  4,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name:       "GET MaxRetries 1",
			maxRetries: 1,
			replies:    []reply{{status: 503}},
			wantErr:    true,
			wantCalls:  2,
			wantSleeps: []time.Duration{time.Second},
		},
		{
			name:       "retries disabled",
			maxRetries: -1,
			replies:    []reply{{status: 503}},
			wantErr:    true,
			wantCalls:  1,
		},
		{
			name:      "GET 500 not retried",
			replies:   []reply{{status: 500}},
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name:       "GET connection error retried",
			replies:    []reply{{hangUp: true}, okPull},
			wantCalls:  2,
			wantSleeps: []time.Duration{time.Second},
		},
		{
			name: "403 secondary rate limit with Retry-After",
			replies: []reply{
				{status: 403, header: map[string]string{"Retry-After": "7"}, body: `{"message":"You have exceeded a secondary rate limit."}`},
				okPull,
			},
			wantCalls:  2,
			wantSleeps: []time.Duration{7 * time.Second},
		},
		{
			name: "403 primary rate limit waits for reset",
			replies: []reply{
				{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": resetIn5s}, body: `{"message":"API rate limit exceeded"}`},
				okPull,
			},
			wantCalls:  2,
			wantSleeps: []time.Duration{6 * time.Second},
		},
		{
			name: "403 secondary rate limit without headers waits a minute",
			replies: []reply{
				{status: 403, body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`},
				okPull,
			},
			wantCalls:  2,
			wantSleeps: []time.Duration{time.Minute},
		},
		{
			name: "429 with HTTP-date Retry-After",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": testNow.Add(3 * time.Second).Format(http.TimeFormat)}},
				okPull,
			},
			wantCalls:  2,
			wantSleeps: []time.Duration{3 * time.Second},
		},
		{
			name:      "403 forbidden is not a rate limit",
			replies:   []reply{{status: 403, body: `{"message":"Resource not accessible by integration"}`}},
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name:      "rate limit resetting in an hour is returned, not waited for",
			replies:   []reply{{status: 403, header: map[string]string{"Retry-After": "3600"}, body: `{"message":"secondary rate limit"}`}},
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name:      "POST 500 not retried",
			post:      true,
			replies:   []reply{{status: 500}, okComment},
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name:      "POST 504 not retried",
			post:      true,
			replies:   []reply{{status: 504}, okComment},
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name:      "POST connection error not retried",
			post:      true,
			replies:   []reply{{hangUp: true}, okComment},
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name:       "POST 503 retried with the same body",
			post:       true,
			replies:    []reply{{status: 503}, okComment},
			wantCalls:  2,
			wantSleeps: []time.Duration{time.Second},
		},
		{
			name:       "POST 403 rate limit retried",
			post:       true,
			replies:    []reply{{status: 403, header: map[string]string{"Retry-After": "2"}}, okComment},
			wantCalls:  2,
			wantSleeps: []time.Duration{2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{MaxRetries: tt.maxRetries})
			h := &scriptedHandler{t: t, replies: tt.replies}
			f.mux.Handle("/repos/acme/infra/pulls/7", h)
			f.mux.Handle("/repos/acme/infra/issues/7/comments", h)
			var err error
			if tt.post {
				_, err = f.client.CreateComment(context.Background(), testRepo, 7, "plan output")
			} else {
				_, err = f.client.GetPullRequest(context.Background(), testRepo, 7)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			reqs := h.requests()
			if len(reqs) != tt.wantCalls {
				t.Errorf("requests = %d, want %d", len(reqs), tt.wantCalls)
			}
			if tt.post {
				for i, b := range reqs {
					if b != `{"body":"plan output"}`+"\n" {
						t.Errorf("request %d body = %q, want the comment", i, b)
					}
				}
			}
			if diff := cmp.Diff(tt.wantSleeps, f.slept()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryRateLimitErrorSurfaces(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Now: time.Now}) // go-github compares Reset with the real clock

	f.mux.Handle("/repos/acme/infra/pulls/7", &scriptedHandler{t: t, replies: []reply{{
		status: 403,
		header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000",
			"X-RateLimit-Reset": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)},
		body: `{"message":"API rate limit exceeded"}`,
	}}})
	_, err := f.client.GetPullRequest(context.Background(), testRepo, 7)
	var rle *gh.RateLimitError
	if !errors.As(err, &rle) {
		t.Fatalf("error = %v, want a *github.RateLimitError the caller can inspect", err)
	}
	if errors.Is(err, vcs.ErrNotFound) {
		t.Error("a rate limit must not look like not found")
	}
	if len(f.slept()) != 0 {
		t.Errorf("waited %v for an hour-long rate limit", f.slept())
	}
}

func TestRetryStopsAtContextDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{Now: time.Now})
	h := &scriptedHandler{t: t, replies: []reply{{status: 429, header: map[string]string{"Retry-After": "30"}}, okPull}}
	f.mux.Handle("/repos/acme/infra/pulls/7", h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.client.GetPullRequest(ctx, testRepo, 7); err == nil {
		t.Fatal("GetPullRequest succeeded; want the 429 since waiting would pass the deadline")
	}
	if n := len(h.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if len(f.slept()) != 0 {
		t.Errorf("slept %v past the deadline", f.slept())
	}
}

func TestRetryCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	h := &scriptedHandler{t: t, replies: []reply{{status: 503}, okPull}}
	mux := http.NewServeMux()
	mux.Handle("/api/v3/repos/acme/infra/pulls/7", h)
	srv := newServer(t, mux)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(Config{
		Token: testToken, APIURL: srv + "/api/v3/",
		Sleep: func(context.Context, time.Duration) error { cancel(); return context.Canceled },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPullRequest(ctx, testRepo, 7)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if n := len(h.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestRetryLogsWithoutSecrets(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.Handle("/repos/acme/infra/pulls/7", &scriptedHandler{t: t, replies: []reply{{status: 503}, okPull}})
	if _, err := f.client.GetPullRequest(context.Background(), testRepo, 7); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	for _, want := range []string{"retrying github request", "method=GET", "path=/api/v3/repos/acme/infra/pulls/7", "attempt=1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// setup's cleanup also fails the test if the token or an Authorization header shows up.
}

func TestRetryAfterParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"12", 12 * time.Second, true},
		{" 3 ", 3 * time.Second, true},
		{"-5", 0, true},
		{testNow.Add(time.Minute).Format(http.TimeFormat), time.Minute, true},
		{testNow.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.in, testNow)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
