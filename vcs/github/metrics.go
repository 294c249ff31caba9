package github

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count the GitHub API calls a Client makes (each attempt, retries
// included) and keep the rate limit GitHub last reported.
type Metrics struct {
	requests  *prometheus.CounterVec
	remaining *prometheus.GaugeVec
}

// NewMetrics registers atoll_github_requests_total{endpoint,method,code} and
// atoll_github_rate_limit_remaining{resource} with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atoll_github_requests_total",
			Help: "GitHub API requests, each attempt counted, by endpoint class, method and HTTP status (\"error\" when no answer came)."},
			[]string{"endpoint", "method", "code"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atoll_github_rate_limit_remaining",
			Help: "Requests left in GitHub's rate limit window, as its last answer said, by resource (core, graphql, ...)."},
			[]string{"resource"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.remaining} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// metricsTransport counts each request it sends.
type metricsTransport struct {
	next http.RoundTripper
	m    *Metrics
}

func (t metricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
		if v := resp.Header.Get("X-RateLimit-Remaining"); v != "" {
			if n, perr := strconv.Atoi(v); perr == nil {
				res := resp.Header.Get("X-RateLimit-Resource")
				if res == "" {
					res = "core"
				}
				t.m.remaining.WithLabelValues(res).Set(float64(n))
			}
		}
	}
	t.m.requests.WithLabelValues(endpointClass(req.URL.Path), req.Method, code).Inc()
	return resp, err
}

// endpointClass names an API path by what it reaches, without owner, repo
// or numbers, so the label set stays small: "pulls", "pull_files",
// "reviews", "comments", "statuses", "issues", "permissions", "merge",
// "refs", "repos", "rate_limit", "app", "teams", or "other".
func endpointClass(path string) string {
	p := strings.Trim(path, "/")
	p = strings.TrimPrefix(p, "api/v3/")
	parts := strings.Split(p, "/")
	switch {
	case len(parts) == 0:
		return "other"
	case parts[0] == "rate_limit":
		return "rate_limit"
	case parts[0] == "app" || parts[0] == "installation":
		return "app"
	case parts[0] == "orgs" && strings.Contains(p, "/teams/"):
		return "teams"
	case parts[0] != "repos" || len(parts) < 3:
		return "other"
	}
	rest := parts[3:]
	if len(rest) == 0 {
		return "repos"
	}
	switch rest[0] {
	case "pulls":
		switch {
		case len(rest) >= 3 && rest[2] == "files":
			return "pull_files"
		case len(rest) >= 3 && rest[2] == "reviews":
			return "reviews"
		case len(rest) >= 3 && rest[2] == "merge":
			return "merge"
		}
		return "pulls"
	case "issues":
		if strings.Contains(strings.Join(rest, "/"), "comments") {
			return "comments"
		}
		return "issues"
	case "statuses", "commits":
		return "statuses"
	case "collaborators":
		return "permissions"
	case "git":
		return "refs"
	case "branches":
		return "repos"
	}
	return "other"
}
