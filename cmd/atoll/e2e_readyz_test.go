package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
)

type readyz struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK      bool           `json:"ok"`
		Error   string         `json:"error"`
		Details map[string]any `json:"details"`
	} `json:"checks"`
}

func getReadyz(t *testing.T, url string) (int, readyz) {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, url+"/readyz", nil, nil)
	var r readyz
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /readyz = %d, not JSON: %v\n%s", code, err, body)
	}
	return code, r
}

// /readyz answers 200 when the store, GitHub, terraform and the data dir's
// disk are fine, and 503 naming the check that is not; /healthz stays 200.
// With --log-format json every log line is a JSON object.
func TestE2EReadyz(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir(), "--log-format", "json")
	code, r := getReadyz(t, atoll.URL)
	if code != http.StatusOK || r.Status != "ready" || len(r.Checks) != 4 {
		t.Fatalf("/readyz = %d %+v, want 200 with four checks", code, r)
	}
	for _, name := range []string{"store", "github", "terraform", "disk"} {
		if !r.Checks[name].OK {
			t.Errorf("check %s = %+v", name, r.Checks[name])
		}
	}
	if r.Checks["github"].Details["rate_limit_remaining"] != float64(4999) {
		t.Errorf("github details = %v", r.Checks["github"].Details)
	}
	for _, line := range strings.Split(strings.TrimSpace(atoll.log.String()), "\n") {
		if strings.HasPrefix(line, "atoll server listening") {
			continue // the one line for people, on stdout
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil || obj["msg"] == nil || obj["level"] == nil {
			t.Errorf("log line is not a JSON object with msg and level: %q", line)
		}
	}

	full := startAtoll(t, gh, t.TempDir(), "--readyz-min-free-disk", "1000000000000000")
	code, r = getReadyz(t, full.URL)
	if code != http.StatusServiceUnavailable || r.Status != "not ready" || r.Checks["disk"].OK || !strings.Contains(r.Checks["disk"].Error, "below --readyz-min-free-disk") {
		t.Errorf("/readyz with a full disk = %d %+v", code, r)
	}
	if code, _ := httpDo(t, http.MethodGet, full.URL+"/healthz", nil, nil); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200 (liveness only)", code)
	}
}

// With Redis stopped, /readyz is 200 "degraded" naming the store: the
// replica keeps taking webhooks into its local spool, so a load balancer
// must keep it in rotation (GitHub does not deliver a webhook again).
func TestE2EReadyzRedisDown(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	rd := testenv.RestartableRedis(t)
	atoll := startAtoll(t, gh, t.TempDir(), append(redisFlags(t, rd.Addr), "--pr-poll-interval=0")...)
	if code, r := getReadyz(t, atoll.URL); code != http.StatusOK || r.Checks["store"].Details["type"] != "redis" {
		t.Fatalf("/readyz = %d %+v", code, r)
	}
	rd.Stop()
	waitFor(t, func() bool {
		code, r := getReadyz(t, atoll.URL)
		return code == http.StatusOK && r.Status == "degraded" && !r.Checks["store"].OK &&
			strings.Contains(r.Checks["store"].Error, "redis does not answer") && r.Checks["store"].Details["spooling"] == true
	}, "/readyz to report the store as degraded, spooling")
}

// With GitHub unreachable, /readyz is 200 "degraded" naming GitHub: the
// replica still queues the webhooks that reach it.
func TestE2EReadyzGitHubDown(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir(), "--pr-poll-interval=0", "--gh-timeout=2s")
	if code, r := getReadyz(t, atoll.URL); code != http.StatusOK || r.Status != "ready" {
		t.Fatalf("/readyz = %d %+v", code, r)
	}
	gh.Close()
	waitFor(t, func() bool {
		code, r := getReadyz(t, atoll.URL)
		return code == http.StatusOK && r.Status == "degraded" && !r.Checks["github"].OK && r.Checks["disk"].OK
	}, "/readyz to report GitHub as degraded")
}
