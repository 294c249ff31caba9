package vcstest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// RecordedCheckRun is a check run as the fake stored it.
type RecordedCheckRun struct {
	ID                     int64
	Name, HeadSHA          string
	Status, Conclusion     string
	Title, Summary, Text   string
	DetailsURL, ExternalID string
}

// createCheckRunAPI serves POST /repos/{o}/{r}/check-runs: 201, or 403 for
// a request that does not carry a GitHub App's installation token (GitHub
// lets only Apps create check runs), or 422 without name or head_sha.
func (s *Server) createCheckRunAPI(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(credential(r), installTokenPrefix) {
		writeError(w, http.StatusForbidden, "You must authenticate via a GitHub App.")
		return
	}
	var req github.CreateCheckRunOptions
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Name == "" || req.HeadSHA == "" {
		writeValidation(w, fieldError{Resource: "CheckRun", Field: "name", Code: "missing_field"})
		return
	}
	out := req.Output
	if out == nil {
		out = &github.CheckRunOutput{}
	}
	for _, f := range []string{out.GetSummary(), out.GetText()} {
		if len(f) > 65535 {
			writeValidation(w, fieldError{Resource: "CheckRun", Field: "output", Code: "custom", Message: "Only 65535 characters are allowed"})
			return
		}
	}
	s.mu.Lock()
	rs, ok := s.apiRepo(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	run := RecordedCheckRun{ID: s.newID(), Name: req.Name, HeadSHA: req.HeadSHA, Status: req.GetStatus(), Conclusion: req.GetConclusion(),
		Title: out.GetTitle(), Summary: out.GetSummary(), Text: out.GetText(), DetailsURL: req.GetDetailsURL(), ExternalID: req.GetExternalID()}
	if s.checkRuns == nil {
		s.checkRuns = map[string][]RecordedCheckRun{}
	}
	key := rs.fullName()
	s.checkRuns[key] = append(s.checkRuns[key], run)
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, &github.CheckRun{ID: github.Int64(run.ID), Name: github.String(run.Name), HeadSHA: github.String(run.HeadSHA),
		Status: github.String(run.Status), Conclusion: github.String(run.Conclusion), ExternalID: github.String(run.ExternalID)})
}

// CheckRuns returns the check runs created on sha of repo, oldest first.
func (s *Server) CheckRuns(repo vcs.Repo, sha string) []RecordedCheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RecordedCheckRun
	for _, run := range s.checkRuns[repo.FullName()] {
		if run.HeadSHA == sha {
			out = append(out, run)
		}
	}
	return out
}

// RerequestCheckRun presses "Re-run" on check run id as user: it delivers a
// check_run "rerequested" webhook naming the open pull request whose head
// is the run's commit.
func (s *Server) RerequestCheckRun(ctx context.Context, repo vcs.Repo, id int64, user string) error {
	s.mu.Lock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	var run *RecordedCheckRun
	for i := range s.checkRuns[rs.fullName()] {
		if s.checkRuns[rs.fullName()][i].ID == id {
			run = &s.checkRuns[rs.fullName()][i]
		}
	}
	if run == nil {
		s.mu.Unlock()
		return fmt.Errorf("rerequest check run %d: no such check run", id)
	}
	var pulls []*github.PullRequest
	for _, is := range rs.issues {
		if is.pull != nil && is.state == "open" && is.pull.headSHA == run.HeadSHA {
			pulls = append(pulls, &github.PullRequest{Number: github.Int(is.num),
				Head: &github.PullRequestBranch{SHA: github.String(is.pull.headSHA), Ref: github.String(is.pull.head)},
				Base: &github.PullRequestBranch{Ref: github.String(is.pull.base)}})
		}
	}
	body := mustJSON(&github.CheckRunEvent{
		Action: github.String("rerequested"),
		CheckRun: &github.CheckRun{ID: github.Int64(run.ID), Name: github.String(run.Name), HeadSHA: github.String(run.HeadSHA),
			ExternalID: github.String(run.ExternalID), Status: github.String(run.Status), PullRequests: pulls},
		Repo:   s.repoJSON(rs),
		Sender: s.userJSON(user),
	})
	s.mu.Unlock()
	return s.deliverEvent(ctx, "check_run", body)
}
