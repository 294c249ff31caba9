package vcstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// gitWriteTimeout bounds the git work of one merge or ref deletion.
const gitWriteTimeout = time.Minute

// mergeRequest is the body of PUT /repos/{o}/{r}/pulls/{n}/merge.
type mergeRequest struct {
	CommitTitle   *string `json:"commit_title"`
	CommitMessage *string `json:"commit_message"`
	SHA           string  `json:"sha"`
	MergeMethod   string  `json:"merge_method"`
}

// mergePullAPI serves PUT /repos/{o}/{r}/pulls/{n}/merge as GitHub does:
// 200 with the new base tip after a real merge, squash or rebase; 405 when
// the pull request is closed, conflicts or was marked not mergeable with
// SetMergeable; 409 when sha is not its head. The pull_request "closed"
// webhook (merged) is delivered in the background after the answer, so a
// client that merges from its own webhook handler is never blocked on itself.
func (s *Server) mergePullAPI(w http.ResponseWriter, r *http.Request) {
	var req mergeRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil && len(bytes.TrimSpace(body)) > 0 { // GitHub accepts no body at all
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	switch req.MergeMethod {
	case "", methodMerge, methodSquash, methodRebase:
	default:
		writeJSON(w, http.StatusUnprocessableEntity, apiError{
			Message:          `Invalid request.` + "\n\n" + `"` + req.MergeMethod + `" is not a member of ["merge", "squash", "rebase"].`,
			DocumentationURL: "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request",
		})
		return
	}
	s.mu.Lock()
	rs, is, ok := s.apiIssue(w, r)
	if ok && is.pull == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		ok = false
	}
	var repo vcs.Repo
	var num int
	if ok {
		repo, num = s.vcsRepo(rs), is.num
	}
	s.mu.Unlock()
	if !ok {
		return
	}

	// A merge that has started finishes even if the client goes away, so the
	// branch and the pull request's state never disagree.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), gitWriteTimeout)
	defer cancel()
	tip, event, err := s.mergePull(ctx, repo, num, mergeOptions{
		method: req.MergeMethod, title: req.CommitTitle, message: req.CommitMessage,
		sha: req.SHA, by: s.bot, checkMergeable: true,
	})
	switch {
	case errors.Is(err, errHeadModified):
		writeError(w, http.StatusConflict, msgHeadModified)
		return
	case errors.Is(err, errNotOpen), errors.Is(err, errBlocked), errors.Is(err, errConflict):
		writeError(w, http.StatusMethodNotAllowed, msgNotMergeable)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, &github.PullRequestMergeResult{
		SHA:     github.String(tip),
		Merged:  github.Bool(true),
		Message: github.String(msgMergeSucceeded),
	})
	s.deliverBackground("pull_request", event)
}

// deleteRefAPI serves DELETE /repos/{o}/{r}/git/refs/{ref...}: 204, or 422
// "Reference does not exist" for a ref that is missing or malformed, or 422
// "Cannot delete the default branch". Pull requests closed because their
// branch went get their "closed" webhooks in the background.
func (s *Server) deleteRefAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	var repo vcs.Repo
	if ok {
		repo = s.vcsRepo(rs)
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), gitWriteTimeout)
	defer cancel()
	events, err := s.deleteRef(ctx, repo, "refs/"+r.PathValue("ref"))
	switch {
	case errors.Is(err, errNoRef):
		writeError(w, http.StatusUnprocessableEntity, msgNoRef)
		return
	case errors.Is(err, errDefaultBranch):
		writeError(w, http.StatusUnprocessableEntity, msgDefaultBranch)
		return
	case errors.Is(err, ErrUnknown):
		writeError(w, http.StatusNotFound, "Not Found")
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
	for _, ev := range events {
		s.deliverBackground("pull_request", ev)
	}
}
