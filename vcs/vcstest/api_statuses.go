package vcstest

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

// maxStatusDescription is GitHub's limit on a commit status description.
const maxStatusDescription = 140

// createStatus serves POST /repos/{o}/{r}/statuses/{sha}. Like GitHub it
// answers 422 for an unknown commit, an unknown state or a description over
// 140 characters.
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	var req github.RepoStatus
	if !decodeBody(w, r, &req) {
		return
	}
	switch req.GetState() {
	case "pending", "success", "failure", "error":
	default:
		writeValidation(w, fieldError{Resource: "Status", Field: "state", Code: "custom",
			Message: "state is not included in the list"})
		return
	}
	if utf8.RuneCountInString(req.GetDescription()) > maxStatusDescription {
		writeValidation(w, fieldError{Resource: "Status", Field: "description", Code: "custom",
			Message: "description is too long (maximum is 140 characters)"})
		return
	}
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	s.mu.Unlock()
	if !ok {
		return
	}
	ref := r.PathValue("sha")
	sha, err := s.resolve(r.Context(), s.gitDir(rs.owner, rs.name), ref)
	if errors.Is(err, ErrUnknown) {
		writeValidation(w, fieldError{Resource: "Status", Field: "sha", Code: "custom",
			Message: "No commit found for SHA: " + ref})
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ctxName := req.GetContext()
	if ctxName == "" {
		ctxName = "default"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &status{
		id: s.newID(), sha: sha, context: ctxName, state: req.GetState(),
		description: req.GetDescription(), targetURL: req.GetTargetURL(),
		creator: s.bot, created: s.opts.Now(),
	}
	key := rs.fullName() + "@" + sha
	s.statuses[key] = append(s.statuses[key], st)
	s.notifyLocked()
	writeJSON(w, http.StatusCreated, s.statusJSON(rs, st))
}

// commitStatuses serves GET /repos/{o}/{r}/commits/{ref}/statuses (every
// status, newest first, paginated) and GET /repos/{o}/{r}/commits/{ref}/status
// (the combined status: the latest per context). ref may be a SHA or a branch
// name containing slashes.
func (s *Server) commitStatuses(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	ref, combined := strings.CutSuffix(rest, "/status")
	if !combined {
		var ok bool
		if ref, ok = strings.CutSuffix(rest, "/statuses"); !ok || ref == "" {
			writeError(w, http.StatusNotFound, "Not Found")
			return
		}
	}
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	s.mu.Unlock()
	if !ok {
		return
	}
	sha, err := s.resolve(r.Context(), s.gitDir(rs.owner, rs.name), ref)
	if errors.Is(err, ErrUnknown) {
		writeValidation(w, fieldError{Resource: "Status", Field: "ref", Code: "custom",
			Message: "No commit found for SHA: " + ref})
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.statuses[rs.fullName()+"@"+sha]
	if !combined {
		out := make([]*github.RepoStatus, 0, len(all))
		for i := len(all) - 1; i >= 0; i-- {
			out = append(out, s.statusJSON(rs, all[i]))
		}
		writeJSON(w, http.StatusOK, paginate(w, r, out))
		return
	}
	latest := map[string]*status{}
	var order []string
	for _, st := range all {
		if _, seen := latest[st.context]; !seen {
			order = append(order, st.context)
		}
		latest[st.context] = st
	}
	state := "success"
	if len(order) == 0 {
		state = "pending"
	}
	out := &github.CombinedStatus{
		SHA:           github.String(sha),
		TotalCount:    github.Int(len(order)),
		Statuses:      []*github.RepoStatus{},
		RepositoryURL: github.String(s.APIURL() + "repos/" + rs.fullName()),
		CommitURL:     github.String(s.APIURL() + "repos/" + rs.fullName() + "/commits/" + sha),
	}
	for _, c := range order {
		st := latest[c]
		switch {
		case st.state == "failure" || st.state == "error":
			state = "failure"
		case st.state == "pending" && state != "failure":
			state = "pending"
		}
		out.Statuses = append(out.Statuses, s.statusJSON(rs, st))
	}
	out.State = github.String(state)
	writeJSON(w, http.StatusOK, out)
}
