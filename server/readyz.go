package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// ReadyCheck is one check of /readyz: Check returns details to show (never
// a secret nor a path) and an error when the dependency is not usable.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) (map[string]any, error)
	// Soft marks a check whose failure leaves the replica useful: it still
	// takes webhooks (Redis down: into its local spool; GitHub down: into
	// its queue). /readyz then answers 200 "degraded", so a load balancer
	// keeps sending webhooks, which GitHub would not deliver again.
	Soft bool
}

// readyCacheFor is how long a /readyz answer is reused: probes come every few
// seconds from every kubelet and load balancer, and one of the checks calls
// GitHub.
const readyCacheFor = 5 * time.Second

// readyCheckTimeout bounds each check.
const readyCheckTimeout = 3 * time.Second

// readyResult is one check's part of the /readyz answer.
type readyResult struct {
	OK         bool           `json:"ok"`
	Soft       bool           `json:"soft,omitempty"`
	Error      string         `json:"error,omitempty"`
	DurationMS int64          `json:"duration_ms"`
	Details    map[string]any `json:"details,omitempty"`
}

type readyAnswer struct {
	Status  string                 `json:"status"`
	Checked time.Time              `json:"checked"`
	Checks  map[string]readyResult `json:"checks"`
}

// readiness caches the last /readyz answer.
type readiness struct {
	mu   sync.Mutex // guards last and code; held while checking, so probes share one run
	last readyAnswer
	code int
}

// handleReadyz answers 200 when every readiness check passes ("ready") or
// only soft ones fail ("degraded"), and 503 otherwise, with a JSON body saying what each check found. /healthz stays
// liveness only: a replica whose Redis or GitHub is down should be taken out
// of the load balancer, not restarted.
func (s *Server) handleReadyz(c echo.Context) error {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	now := time.Now()
	if now.Sub(s.ready.last.Checked) < readyCacheFor && s.ready.code != 0 {
		return c.JSON(s.ready.code, s.ready.last)
	}
	ans := readyAnswer{Status: "ready", Checked: now, Checks: map[string]readyResult{}}
	code := http.StatusOK
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rc := range s.cfg.Ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(c.Request().Context(), readyCheckTimeout)
			defer cancel()
			start := time.Now()
			details, err := rc.Check(ctx)
			res := readyResult{OK: err == nil, Soft: rc.Soft, DurationMS: time.Since(start).Milliseconds(), Details: details}
			if err != nil {
				res.Error = err.Error()
				if s.cfg.Redact != nil {
					res.Error = string(s.cfg.Redact([]byte(res.Error)))
				}
			}
			mu.Lock()
			ans.Checks[rc.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name, res := range ans.Checks {
		switch {
		case res.OK:
		case res.Soft:
			if code == http.StatusOK {
				ans.Status = "degraded"
			}
			s.log.Warn("degraded", "check", name, "error", res.Error)
		default:
			ans.Status, code = "not ready", http.StatusServiceUnavailable
			s.log.Warn("not ready", "check", name, "error", res.Error)
		}
	}
	s.ready.last, s.ready.code = ans, code
	return c.JSON(code, ans)
}
