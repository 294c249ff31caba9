package github

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atollhq/atoll/vcs/vcstest"
)

func TestEndpointClass(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/api/v3/repos/acme/infra/pulls/12":              "pulls",
		"/repos/acme/infra/pulls/12/files":               "pull_files",
		"/repos/acme/infra/pulls/12/reviews":             "reviews",
		"/repos/acme/infra/pulls/12/merge":               "merge",
		"/repos/acme/infra/issues/12/comments":           "comments",
		"/repos/acme/infra/issues/comments/99":           "comments",
		"/repos/acme/infra/issues":                       "issues",
		"/repos/acme/infra/statuses/abc":                 "statuses",
		"/repos/acme/infra/commits/main/status":          "statuses",
		"/repos/acme/infra/collaborators/bob/permission": "permissions",
		"/repos/acme/infra":                              "repos",
		"/rate_limit":                                    "rate_limit",
		"/app/installations/1/access_tokens":             "app",
		"/orgs/acme/teams/platform/memberships/bob":      "teams",
		"/repos/acme/infra/git/refs/heads/x":             "refs",
		"/graphql":                                       "other",
	} {
		if got := endpointClass(path); got != want {
			t.Errorf("endpointClass(%q) = %q, want %q", path, got, want)
		}
	}
}

// Every request is counted by endpoint class and status, and the rate limit
// GitHub reports is kept.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s, repo, _ := newFakeGitHub(t, vcstest.Options{})
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: s.APIURL(), Token: "fake-token-123", User: s.BotUser(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.GetPullRequest(ctx, repo, 404); err == nil {
		t.Fatal("GetPullRequest of a missing pull request succeeded")
	}
	if _, _, err := c.RateLimit(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			if mt.GetCounter() != nil {
				got[key] = mt.GetCounter().GetValue()
			} else {
				got[key] = mt.GetGauge().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"atoll_github_requests_total code=404 endpoint=pulls method=GET":      1,
		"atoll_github_requests_total code=200 endpoint=rate_limit method=GET": 1,
		"atoll_github_rate_limit_remaining resource=core":                     4999,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}
