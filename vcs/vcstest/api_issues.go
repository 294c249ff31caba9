package vcstest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// checkBody validates a comment or issue body the way GitHub does: at most
// vcs.MaxCommentLen characters. resource names the object in the error.
func checkBody(resource, body string, required bool) *fieldError {
	if required && strings.TrimSpace(body) == "" {
		return &fieldError{Resource: resource, Field: "body", Code: "missing_field"}
	}
	if n := utf8.RuneCountInString(body); n > vcs.MaxCommentLen {
		return &fieldError{Resource: resource, Field: "body", Code: "custom",
			Message: fmt.Sprintf("body is too long (maximum is %d characters)", vcs.MaxCommentLen)}
	}
	return nil
}

// listIssues serves GET /repos/{o}/{r}/issues with GitHub's state (open,
// closed, all; default open), labels (comma-separated, all must match),
// creator, sort (created, updated, comments) and direction (default desc).
// Like GitHub it lists pull requests too; they carry "pull_request".
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var labels []string
	if l := q.Get("labels"); l != "" {
		for _, name := range strings.Split(l, ",") {
			labels = append(labels, strings.TrimSpace(name))
		}
	}
	creator := q.Get("creator")
	var found []*issue
	for _, is := range rs.issues {
		if state != "all" && is.state != state {
			continue
		}
		if creator != "" && !strings.EqualFold(is.user, creator) {
			continue
		}
		if !hasLabels(is.labels, labels) {
			continue
		}
		found = append(found, is)
	}
	key := func(is *issue) int64 { return int64(is.num) }
	switch q.Get("sort") {
	case "updated":
		key = func(is *issue) int64 { return is.updated.UnixNano() }
	case "comments":
		key = func(is *issue) int64 { return int64(is.comments) }
	}
	sortIssues(found, key, q.Get("direction") == "asc")
	out := make([]*github.Issue, 0, len(found))
	for _, is := range found {
		out = append(out, s.issueJSON(rs, is))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// sortIssues orders issues by key, newest (largest) first unless asc, ties
// by number, as GitHub's list endpoints do.
func sortIssues(found []*issue, key func(*issue) int64, asc bool) {
	sort.SliceStable(found, func(i, j int) bool {
		a, b := key(found[i]), key(found[j])
		if a == b {
			a, b = int64(found[i].num), int64(found[j].num)
		}
		if asc {
			return a < b
		}
		return a > b
	})
}

func hasLabels(have, want []string) bool {
	for _, l := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, l) }) {
			return false
		}
	}
	return true
}

// createIssue serves POST /repos/{o}/{r}/issues; the bot user is the author.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	var req github.IssueRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.GetTitle() == "" {
		writeValidation(w, fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if fe := checkBody("Issue", req.GetBody(), false); fe != nil {
		writeValidation(w, *fe)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	now := s.opts.Now()
	rs.lastNum++
	is := &issue{
		id: s.newID(), num: rs.lastNum, title: req.GetTitle(), body: req.GetBody(),
		user: s.bot, state: "open", created: now, updated: now,
	}
	if req.Labels != nil {
		is.labels = slices.Clone(*req.Labels)
	}
	rs.issues[is.num] = is
	w.Header().Set("Location", s.issueAPIURL(rs, is.num))
	writeJSON(w, http.StatusCreated, s.issueJSON(rs, is))
}

// getIssue serves GET /repos/{o}/{r}/issues/{n}.
func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, is, ok := s.apiIssue(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.issueJSON(rs, is))
}

// editIssue serves PATCH /repos/{o}/{r}/issues/{n}: title, body, labels and
// state (with state_reason). It sends no webhook.
func (s *Server) editIssue(w http.ResponseWriter, r *http.Request) {
	var req github.IssueRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.State != nil && *req.State != "open" && *req.State != "closed" {
		writeValidation(w, fieldError{Resource: "Issue", Field: "state", Code: "invalid"})
		return
	}
	if req.Title != nil && *req.Title == "" {
		writeValidation(w, fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if fe := checkBody("Issue", req.GetBody(), false); fe != nil {
		writeValidation(w, *fe)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, is, ok := s.apiIssue(w, r)
	if !ok {
		return
	}
	if is.pull != nil && is.pull.merged && req.State != nil && *req.State == "open" {
		writeValidation(w, fieldError{Resource: "Issue", Field: "state", Code: "custom",
			Message: "state cannot be changed. The pull request has been merged."})
		return
	}
	now := s.opts.Now()
	if req.Title != nil {
		is.title = *req.Title
	}
	if req.Body != nil {
		is.body = *req.Body
	}
	if req.Labels != nil {
		is.labels = slices.Clone(*req.Labels)
	}
	if req.State != nil && *req.State != is.state {
		is.state = *req.State
		if is.state == "closed" {
			is.closed, is.closedBy, is.stateReason = now, s.bot, "completed"
		} else {
			is.closed, is.closedBy, is.stateReason = time.Time{}, "", "reopened"
		}
	}
	if req.StateReason != nil {
		is.stateReason = *req.StateReason
	}
	is.updated = now
	writeJSON(w, http.StatusOK, s.issueJSON(rs, is))
}

// listComments serves GET /repos/{o}/{r}/issues/{n}/comments, oldest first.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, is, ok := s.apiIssue(w, r)
	if !ok {
		return
	}
	var out []*github.IssueComment
	for _, c := range s.commentsOf(rs, is.num) {
		out = append(out, s.commentJSON(rs, c))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// commentsOf returns the live comments on issue num of rs, oldest first.
// Callers hold s.mu.
func (s *Server) commentsOf(rs *repoState, num int) []*comment {
	var out []*comment
	for _, c := range s.comments {
		if c.repo == rs.fullName() && c.num == num && !c.deleted {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// createComment serves POST /repos/{o}/{r}/issues/{n}/comments; the bot
// user is the author.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	var req github.IssueComment
	if !decodeBody(w, r, &req) {
		return
	}
	if fe := checkBody("IssueComment", req.GetBody(), true); fe != nil {
		writeValidation(w, *fe)
		return
	}
	s.mu.Lock()
	rs, is, ok := s.apiIssue(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	c := s.addCommentLocked(rs, is, s.bot, req.GetBody())
	w.Header().Set("Location", s.commentJSON(rs, c).GetURL())
	writeJSON(w, http.StatusCreated, s.commentJSON(rs, c))
	rec := s.recorded(rs, c)
	var event []byte
	if s.opts.BotCommentEvents {
		event = s.commentEventLocked(rs, is, c)
	}
	s.mu.Unlock()

	if s.opts.OnComment != nil {
		s.opts.OnComment(rec)
	}
	if event != nil {
		s.deliverBackground("issue_comment", event)
	}
}

// addCommentLocked records a new comment by user on is. Callers hold s.mu.
func (s *Server) addCommentLocked(rs *repoState, is *issue, user, body string) *comment {
	now := s.opts.Now()
	kind := "issues"
	if is.pull != nil {
		kind = "pull"
	}
	c := &comment{
		id: s.newID(), repo: rs.fullName(), num: is.num, user: user, body: body,
		created: now, updated: now,
		htmlPath: fmt.Sprintf("/%s/%s/%d", rs.fullName(), kind, is.num),
	}
	s.comments[c.id] = c
	is.comments++
	is.updated = now
	s.notifyLocked()
	return c
}

// apiComment finds the comment named by the request path in the request's
// repo, answering 404 otherwise. Callers hold s.mu.
func (s *Server) apiComment(w http.ResponseWriter, r *http.Request) (*repoState, *comment, bool) {
	rs, ok := s.apiRepo(w, r)
	if !ok {
		return nil, nil, false
	}
	id, ok := pathInt(w, r, "id")
	if !ok {
		return nil, nil, false
	}
	c, found := s.comments[id]
	if !found || c.deleted || c.repo != rs.fullName() {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, nil, false
	}
	return rs, c, true
}

// getComment serves GET /repos/{o}/{r}/issues/comments/{id}.
func (s *Server) getComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, c, ok := s.apiComment(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.commentJSON(rs, c))
}

// editComment serves PATCH /repos/{o}/{r}/issues/comments/{id}.
func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	var req github.IssueComment
	if !decodeBody(w, r, &req) {
		return
	}
	if fe := checkBody("IssueComment", req.GetBody(), true); fe != nil {
		writeValidation(w, *fe)
		return
	}
	s.mu.Lock()
	rs, c, ok := s.apiComment(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	c.body = req.GetBody()
	c.edits++
	c.updated = s.opts.Now()
	s.notifyLocked()
	writeJSON(w, http.StatusOK, s.commentJSON(rs, c))
	rec := s.recorded(rs, c)
	s.mu.Unlock()
	if s.opts.OnComment != nil {
		s.opts.OnComment(rec)
	}
}

// deleteComment serves DELETE /repos/{o}/{r}/issues/comments/{id}.
func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, c, ok := s.apiComment(w, r)
	if !ok {
		return
	}
	c.deleted = true
	if is, found := rs.issues[c.num]; found {
		is.comments--
	}
	s.notifyLocked()
	w.WriteHeader(http.StatusNoContent)
}
