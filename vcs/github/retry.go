package github

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	defaultMaxRetries = 3
	defaultMaxWait    = 60 * time.Second
	// secondaryLimitWait is what GitHub's docs ask for after a secondary rate
	// limit that names no time: "wait for at least one minute".
	secondaryLimitWait = 60 * time.Second
	// sniffLimit bounds how much of a 403 body is read to recognise a
	// secondary rate limit; GitHub's error bodies are a few hundred bytes.
	sniffLimit = 64 << 10
)

// retryTransport retries requests GitHub failed transiently or refused for
// rate limits, waiting as GitHub asks (Retry-After, X-RateLimit-Reset) or with
// exponential backoff. It never waits longer than maxWait at once, nor past
// the request context's deadline; in those cases the response is returned
// as-is so go-github turns it into a RateLimitError or ErrorResponse.
//
// Safe methods (GET, HEAD, OPTIONS) are retried on connection errors and on
// 502, 503 and 504. Other methods are retried only when GitHub certainly did
// not act on the request: rate limits (429, or 403 with
// X-RateLimit-Remaining: 0, Retry-After or a secondary-rate-limit message)
// and 502/503 from the front end.
type retryTransport struct {
	next       http.RoundTripper
	maxRetries int
	maxWait    time.Duration
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	logger     *slog.Logger
}

func newRetryTransport(next http.RoundTripper, cfg Config, logger *slog.Logger) *retryTransport {
	t := &retryTransport{
		next:       next,
		maxRetries: cfg.MaxRetries,
		maxWait:    cfg.MaxWait,
		now:        cfg.Now,
		sleep:      cfg.Sleep,
		logger:     logger,
	}
	if t.maxRetries == 0 {
		t.maxRetries = defaultMaxRetries
	}
	if t.maxRetries < 0 {
		t.maxRetries = 0
	}
	if t.maxWait <= 0 {
		t.maxWait = defaultMaxWait
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.sleep == nil {
		t.sleep = sleepCtx
	}
	return t
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	attemptReq := req
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(attemptReq)
		secondary := false
		if err == nil {
			secondary = sniffSecondaryLimit(resp)
		}
		wait, reason, ok := t.retryable(req.Method, resp, err, secondary, attempt)
		if !ok || attempt >= t.maxRetries || ctx.Err() != nil {
			return resp, err
		}
		if wait > t.maxWait {
			t.logger.Warn("github request not retried: wait too long",
				"method", req.Method, "path", req.URL.Path, "reason", reason, "wait", wait)
			return resp, err
		}
		if deadline, has := ctx.Deadline(); has && t.now().Add(wait).After(deadline) {
			return resp, err
		}
		next, rerr := rewind(req)
		if rerr != nil {
			return resp, err
		}
		if resp != nil {
			// Drain a little so the connection can be reused, then close.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, sniffLimit))
			resp.Body.Close()
		}
		t.logger.Warn("retrying github request",
			"method", req.Method, "path", req.URL.Path, "reason", reason,
			"attempt", attempt+1, "wait", wait)
		if serr := t.sleep(ctx, wait); serr != nil {
			if next.Body != nil {
				next.Body.Close()
			}
			return nil, serr
		}
		attemptReq = next
	}
}

// rewind returns a copy of req with a fresh body for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	next := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return next, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("request body cannot be replayed")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	next.Body = body
	return next, nil
}

// retryable decides whether to retry and how long to wait first.
// secondary says the response is a 403 secondary rate limit recognised by its message.
func (t *retryTransport) retryable(method string, resp *http.Response, err error, secondary bool, attempt int) (time.Duration, string, bool) {
	safe := method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
	if err != nil {
		if !safe || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 0, "", false
		}
		return backoff(attempt), "connection error", true
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return t.rateLimitWait(resp, false, attempt), "rate limited (429)", true
	case http.StatusForbidden:
		h := resp.Header
		if h.Get("X-RateLimit-Remaining") == "0" || h.Get("Retry-After") != "" || secondary {
			return t.rateLimitWait(resp, secondary, attempt), "rate limited (403)", true
		}
		return 0, "", false
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return t.retryAfterOr(resp, backoff(attempt)), resp.Status, true
	case http.StatusGatewayTimeout:
		// The request may have been processed behind the gateway.
		if !safe {
			return 0, "", false
		}
		return t.retryAfterOr(resp, backoff(attempt)), resp.Status, true
	}
	return 0, "", false
}

// rateLimitWait returns how long GitHub asks to wait: Retry-After first
// (secondary limits), then X-RateLimit-Reset when the primary limit is used
// up, then a minute for a secondary limit that names no time, else backoff.
func (t *retryTransport) rateLimitWait(resp *http.Response, secondary bool, attempt int) time.Duration {
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
		return d
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if sec, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			// One extra second: Reset is rounded down and clocks differ.
			d := time.Unix(sec, 0).Sub(t.now()) + time.Second
			if d < time.Second {
				d = time.Second
			}
			return d
		}
	}
	if secondary {
		return secondaryLimitWait
	}
	return backoff(attempt)
}

func (t *retryTransport) retryAfterOr(resp *http.Response, d time.Duration) time.Duration {
	if ra, ok := retryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
		return ra
	}
	return d
}

// retryAfter parses a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if sec < 0 {
			sec = 0
		}
		return time.Duration(sec) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		d := at.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// backoff is 1s, 2s, 4s, ... capped at 30s.
func backoff(attempt int) time.Duration {
	if attempt > 5 {
		attempt = 5
	}
	d := time.Second << attempt
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	return d
}

// sniffSecondaryLimit reports whether resp is a 403 secondary rate limit that
// carries no rate-limit headers, recognised by its message as go-github does.
// The body stays intact for the caller.
func sniffSecondaryLimit(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden || resp.Body == nil ||
		resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "" {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, sniffLimit))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil {
		return false
	}
	lower := bytes.ToLower(head)
	return bytes.Contains(lower, []byte("secondary rate limit")) || bytes.Contains(lower, []byte("abuse detection"))
}
