package vcstest

import (
	"net/http"

	"github.com/google/go-github/v60/github"
)

// getRateLimit serves GET /rate_limit with the same generous budget as the
// X-RateLimit-* headers of every answer.
func (s *Server) getRateLimit(w http.ResponseWriter, _ *http.Request) {
	reset := github.Timestamp{Time: s.opts.Now().Add(3600e9)}
	core := &github.Rate{Limit: 5000, Remaining: 4999, Reset: reset}
	writeJSON(w, http.StatusOK, map[string]any{
		"resources": &github.RateLimits{Core: core, Search: &github.Rate{Limit: 30, Remaining: 30, Reset: reset}},
		"rate":      core,
	})
}
