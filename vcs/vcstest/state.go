package vcstest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// repoState is one hosted repository and its issues and pull requests.
type repoState struct {
	id          int64
	owner, name string
	created     time.Time
	// lastNum is the last issue or pull request number handed out; issues
	// and pull requests share the sequence, as on GitHub.
	lastNum int
	issues  map[int]*issue
	// perms are the roles SetPermission gave, by lowercase login.
	perms map[string]vcs.Permission
}

// issue is an issue or, when pull is set, a pull request.
type issue struct {
	id          int64
	num         int
	title, body string
	user        string
	state       string // "open" or "closed"
	stateReason string
	labels      []string
	created     time.Time
	updated     time.Time
	closed      time.Time
	closedBy    string
	comments    int
	pull        *pull
}

// pull holds what a pull request has beyond an issue.
type pull struct {
	id          int64
	head, base  string // branch names
	headSHA     string
	baseSHA     string // base branch tip when the PR was last updated
	merged      bool
	mergedAt    time.Time
	mergedBy    string // login that merged it; "" means the author
	mergeCommit string
	// mergeableSet says SetMergeable overrode the computed mergeability.
	mergeableSet   bool
	mergeable      bool
	mergeableState string
	reviews        []*review
}

// review is a pull request review.
type review struct {
	id        int64
	user      string
	state     string
	commit    string
	submitted time.Time
}

// comment is an issue or pull request comment.
type comment struct {
	id       int64
	repo     string // "owner/name"
	num      int
	user     string
	body     string
	edits    int
	created  time.Time
	updated  time.Time
	deleted  bool
	htmlPath string
}

// status is a commit status.
type status struct {
	id          int64
	sha         string
	context     string
	state       string
	description string
	targetURL   string
	creator     string
	created     time.Time
}

// RecordedComment is a comment as the fake GitHub holds it.
type RecordedComment struct {
	// ID is the comment's ID, as the REST API reports it.
	ID int64
	// Repo is the repository the comment is in.
	Repo vcs.Repo
	// Num is the pull request or issue number.
	Num int
	// User is the author's login (the bot user for comments made through the API).
	User string
	// Body is the body as last edited.
	Body string
	// Edits counts the times the body was changed after creation.
	Edits int
	// CreatedAt and UpdatedAt are the times of creation and last edit.
	CreatedAt, UpdatedAt time.Time
}

// Delivery records one webhook delivery.
type Delivery struct {
	// Event is the X-GitHub-Event header, for example "pull_request".
	Event string
	// Action is the payload's "action" field, if any.
	Action string
	// ID is the X-GitHub-Delivery header.
	ID string
	// Status is the HTTP status the receiver answered, 0 if it could not be reached.
	Status int
	// Err says why the delivery failed to reach the receiver.
	Err string
	// At is when the delivery was sent.
	At time.Time
}

// newID returns a fresh ID for any object. Callers hold s.mu.
func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

// lookupRepo returns the state of owner/name. Callers hold s.mu.
func (s *Server) lookupRepo(owner, name string) (*repoState, error) {
	rs, ok := s.repos[owner+"/"+name]
	if !ok {
		return nil, fmt.Errorf("repo %s/%s: %w", owner, name, ErrUnknown)
	}
	return rs, nil
}

// lookupIssue returns issue or pull request num of repo. Callers hold s.mu.
func (s *Server) lookupIssue(repo vcs.Repo, num int) (*repoState, *issue, error) {
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		return nil, nil, err
	}
	is, ok := rs.issues[num]
	if !ok {
		return nil, nil, fmt.Errorf("issue %s#%d: %w", rs.fullName(), num, ErrUnknown)
	}
	return rs, is, nil
}

// lookupPull is lookupIssue for pull requests only. Callers hold s.mu.
func (s *Server) lookupPull(repo vcs.Repo, num int) (*repoState, *issue, error) {
	rs, is, err := s.lookupIssue(repo, num)
	if err != nil {
		return nil, nil, err
	}
	if is.pull == nil {
		return nil, nil, fmt.Errorf("pull request %s#%d is an issue: %w", rs.fullName(), num, ErrUnknown)
	}
	return rs, is, nil
}

// apiRepo finds the repo named by the request path, answering 404 if unknown.
// Callers hold s.mu.
func (s *Server) apiRepo(w http.ResponseWriter, r *http.Request) (*repoState, bool) {
	rs, err := s.lookupRepo(r.PathValue("owner"), r.PathValue("repo"))
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	return rs, true
}

// apiIssue finds the repo and issue named by the request path, answering 404
// if either is unknown. Callers hold s.mu.
func (s *Server) apiIssue(w http.ResponseWriter, r *http.Request) (*repoState, *issue, bool) {
	rs, ok := s.apiRepo(w, r)
	if !ok {
		return nil, nil, false
	}
	n, ok := pathInt(w, r, "num")
	if !ok {
		return nil, nil, false
	}
	is, found := rs.issues[int(n)]
	if !found {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil, nil, false
	}
	return rs, is, true
}

func (rs *repoState) fullName() string { return rs.owner + "/" + rs.name }

// notifyLocked wakes everyone waiting in WaitComment or WaitStatus. Callers hold s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// vcsRepo returns the vcs.Repo for rs.
func (s *Server) vcsRepo(rs *repoState) vcs.Repo {
	return vcs.Repo{
		Host:          "github.com",
		Owner:         rs.owner,
		Name:          rs.name,
		CloneURL:      s.url + "/" + rs.fullName() + ".git",
		DefaultBranch: "main",
	}
}

func (s *Server) recorded(rs *repoState, c *comment) RecordedComment {
	return RecordedComment{
		ID: c.id, Repo: s.vcsRepo(rs), Num: c.num, User: c.user, Body: c.body,
		Edits: c.edits, CreatedAt: c.created, UpdatedAt: c.updated,
	}
}

func ts(t time.Time) *github.Timestamp {
	if t.IsZero() {
		return nil
	}
	return &github.Timestamp{Time: t.UTC().Truncate(time.Second)}
}

// userJSON describes login. Callers hold s.mu (user IDs are allocated on first sight).
func (s *Server) userJSON(login string) *github.User {
	id, ok := s.users[login]
	if !ok {
		id = s.newID()
		s.users[login] = id
	}
	typ := "User"
	if login == s.bot || strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return &github.User{
		Login:   github.String(login),
		ID:      github.Int64(id),
		Type:    github.String(typ),
		URL:     github.String(s.APIURL() + "users/" + login),
		HTMLURL: github.String(s.url + "/" + login),
	}
}

// repoJSON describes rs. Callers hold s.mu.
func (s *Server) repoJSON(rs *repoState) *github.Repository {
	full := rs.fullName()
	return &github.Repository{
		ID:            github.Int64(rs.id),
		Name:          github.String(rs.name),
		FullName:      github.String(full),
		Owner:         s.userJSON(rs.owner),
		Private:       github.Bool(false),
		DefaultBranch: github.String("main"),
		MasterBranch:  github.String("main"),
		CreatedAt:     ts(rs.created),
		URL:           github.String(s.APIURL() + "repos/" + full),
		HTMLURL:       github.String(s.url + "/" + full),
		CloneURL:      github.String(s.url + "/" + full + ".git"),
		GitURL:        github.String(s.url + "/" + full + ".git"),
		Visibility:    github.String("public"),
	}
}

func (s *Server) issueAPIURL(rs *repoState, num int) string {
	return fmt.Sprintf("%srepos/%s/issues/%d", s.APIURL(), rs.fullName(), num)
}

func (s *Server) pullHTMLURL(rs *repoState, num int) string {
	return fmt.Sprintf("%s/%s/pull/%d", s.url, rs.fullName(), num)
}

// issueJSON describes an issue or pull request in its issue form. Callers hold s.mu.
func (s *Server) issueJSON(rs *repoState, is *issue) *github.Issue {
	out := &github.Issue{
		ID:            github.Int64(is.id),
		Number:        github.Int(is.num),
		State:         github.String(is.state),
		Title:         github.String(is.title),
		Body:          github.String(is.body),
		User:          s.userJSON(is.user),
		Comments:      github.Int(is.comments),
		Locked:        github.Bool(false),
		CreatedAt:     ts(is.created),
		UpdatedAt:     ts(is.updated),
		ClosedAt:      ts(is.closed),
		URL:           github.String(s.issueAPIURL(rs, is.num)),
		HTMLURL:       github.String(fmt.Sprintf("%s/%s/issues/%d", s.url, rs.fullName(), is.num)),
		CommentsURL:   github.String(s.issueAPIURL(rs, is.num) + "/comments"),
		RepositoryURL: github.String(s.APIURL() + "repos/" + rs.fullName()),
		Labels:        []*github.Label{},
	}
	if is.stateReason != "" {
		out.StateReason = github.String(is.stateReason)
	}
	if is.closedBy != "" {
		out.ClosedBy = s.userJSON(is.closedBy)
	}
	for _, l := range is.labels {
		out.Labels = append(out.Labels, &github.Label{
			Name:  github.String(l),
			Color: github.String("ededed"),
			URL:   github.String(s.APIURL() + "repos/" + rs.fullName() + "/labels/" + l),
		})
	}
	if is.pull != nil {
		pullAPI := fmt.Sprintf("%srepos/%s/pulls/%d", s.APIURL(), rs.fullName(), is.num)
		html := s.pullHTMLURL(rs, is.num)
		out.HTMLURL = github.String(html)
		out.PullRequestLinks = &github.PullRequestLinks{
			URL:      github.String(pullAPI),
			HTMLURL:  github.String(html),
			DiffURL:  github.String(html + ".diff"),
			PatchURL: github.String(html + ".patch"),
			MergedAt: ts(is.pull.mergedAt),
		}
	}
	return out
}

// pullJSON describes a pull request. mergeable is nil while unknown.
// Callers hold s.mu.
func (s *Server) pullJSON(rs *repoState, is *issue, mergeable *bool, mergeableState string) *github.PullRequest {
	p := is.pull
	repo := s.repoJSON(rs)
	branch := func(ref, sha string) *github.PullRequestBranch {
		return &github.PullRequestBranch{
			Label: github.String(rs.owner + ":" + ref),
			Ref:   github.String(ref),
			SHA:   github.String(sha),
			Repo:  repo,
			User:  s.userJSON(rs.owner),
		}
	}
	api := fmt.Sprintf("%srepos/%s/pulls/%d", s.APIURL(), rs.fullName(), is.num)
	html := s.pullHTMLURL(rs, is.num)
	out := &github.PullRequest{
		ID:             github.Int64(p.id),
		Number:         github.Int(is.num),
		State:          github.String(is.state),
		Title:          github.String(is.title),
		Body:           github.String(is.body),
		User:           s.userJSON(is.user),
		Draft:          github.Bool(false),
		Locked:         github.Bool(false),
		Merged:         github.Bool(p.merged),
		Mergeable:      mergeable,
		MergeableState: github.String(mergeableState),
		CreatedAt:      ts(is.created),
		UpdatedAt:      ts(is.updated),
		ClosedAt:       ts(is.closed),
		MergedAt:       ts(p.mergedAt),
		URL:            github.String(api),
		HTMLURL:        github.String(html),
		DiffURL:        github.String(html + ".diff"),
		PatchURL:       github.String(html + ".patch"),
		IssueURL:       github.String(s.issueAPIURL(rs, is.num)),
		CommentsURL:    github.String(s.issueAPIURL(rs, is.num) + "/comments"),
		StatusesURL:    github.String(fmt.Sprintf("%srepos/%s/statuses/%s", s.APIURL(), rs.fullName(), p.headSHA)),
		Comments:       github.Int(is.comments),
		Head:           branch(p.head, p.headSHA),
		Base:           branch(p.base, p.baseSHA),
		Labels:         []*github.Label{},
	}
	if p.mergeCommit != "" {
		out.MergeCommitSHA = github.String(p.mergeCommit)
	}
	if p.merged {
		by := p.mergedBy
		if by == "" {
			by = is.user
		}
		out.MergedBy = s.userJSON(by)
	}
	return out
}

// commentJSON describes c. Callers hold s.mu.
func (s *Server) commentJSON(rs *repoState, c *comment) *github.IssueComment {
	assoc := "CONTRIBUTOR"
	if c.user == rs.owner {
		assoc = "OWNER"
	}
	return &github.IssueComment{
		ID:                github.Int64(c.id),
		Body:              github.String(c.body),
		User:              s.userJSON(c.user),
		CreatedAt:         ts(c.created),
		UpdatedAt:         ts(c.updated),
		AuthorAssociation: github.String(assoc),
		URL:               github.String(fmt.Sprintf("%srepos/%s/issues/comments/%d", s.APIURL(), rs.fullName(), c.id)),
		HTMLURL:           github.String(fmt.Sprintf("%s%s#issuecomment-%d", s.url, c.htmlPath, c.id)),
		IssueURL:          github.String(s.issueAPIURL(rs, c.num)),
	}
}

// statusJSON describes st. Callers hold s.mu.
func (s *Server) statusJSON(rs *repoState, st *status) *github.RepoStatus {
	out := &github.RepoStatus{
		ID:        github.Int64(st.id),
		URL:       github.String(fmt.Sprintf("%srepos/%s/statuses/%s", s.APIURL(), rs.fullName(), st.sha)),
		State:     github.String(st.state),
		Context:   github.String(st.context),
		Creator:   s.userJSON(st.creator),
		CreatedAt: ts(st.created),
		UpdatedAt: ts(st.created),
	}
	if st.description != "" {
		out.Description = github.String(st.description)
	}
	if st.targetURL != "" {
		out.TargetURL = github.String(st.targetURL)
	}
	return out
}

// reviewJSON describes rv on pull request is. Callers hold s.mu.
func (s *Server) reviewJSON(rs *repoState, is *issue, rv *review) *github.PullRequestReview {
	html := s.pullHTMLURL(rs, is.num)
	return &github.PullRequestReview{
		ID:                github.Int64(rv.id),
		User:              s.userJSON(rv.user),
		Body:              github.String(""),
		State:             github.String(rv.state),
		CommitID:          github.String(rv.commit),
		SubmittedAt:       ts(rv.submitted),
		HTMLURL:           github.String(fmt.Sprintf("%s#pullrequestreview-%d", html, rv.id)),
		PullRequestURL:    github.String(fmt.Sprintf("%srepos/%s/pulls/%d", s.APIURL(), rs.fullName(), is.num)),
		AuthorAssociation: github.String("CONTRIBUTOR"),
	}
}

// timeZero clears a timestamp.
var timeZero time.Time
