package vcstest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// listPulls serves GET /repos/{o}/{r}/pulls: state open (default), closed or
// all; sort created (default), updated, popularity or long-running;
// direction desc (default) or asc; paginated. Like GitHub it sends an ETag
// and answers a request whose If-None-Match matches it with 304 Not Modified
// and no body, which GitHub does not count against the rate limit.
// Items carry no merge or comment fields, as on GitHub.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "closed", "all":
	default:
		s.mu.Unlock()
		writeValidation(w, fieldError{Resource: "PullRequest", Field: "state", Code: "invalid"})
		return
	}
	var found []*issue
	for _, is := range rs.issues {
		if is.pull != nil && (state == "all" || is.state == state) {
			found = append(found, is)
		}
	}
	key := func(is *issue) int64 { return is.created.UnixNano() }
	if q.Get("sort") == "updated" {
		key = func(is *issue) int64 { return is.updated.UnixNano() }
	}
	sortIssues(found, key, q.Get("direction") == "asc")
	out := make([]*github.PullRequest, 0, len(found))
	for _, is := range found {
		// A list item is GitHub's "simple" pull request: no merge or
		// comment fields.
		pj := s.pullJSON(rs, is, nil, "")
		pj.Merged, pj.MergeableState, pj.Comments = nil, nil, nil
		out = append(out, pj)
	}
	s.pullLists++
	s.mu.Unlock()

	page := paginate(w, r, out)
	body, err := json.Marshal(page)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	sum := sha256.Sum256(append(body, w.Header().Get("Link")...))
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
		s.mu.Lock()
		s.pullListsNotModified++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagMatches reports whether an If-None-Match header names etag; weak and
// strong forms of the same tag match, as GitHub compares them.
func etagMatches(header, etag string) bool {
	strip := func(t string) string { return strings.TrimPrefix(strings.TrimSpace(t), "W/") }
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == "*" || strip(t) == strip(etag) {
			return true
		}
	}
	return false
}

// PullLists returns how many times the open pull requests of any repository
// were listed, and how many of those answers were 304 Not Modified.
func (s *Server) PullLists() (all, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pullLists, s.pullListsNotModified
}
