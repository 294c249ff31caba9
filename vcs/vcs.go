// Package vcs holds Atoll's domain types for version control hosting (repositories,
// pull requests, comments, commit statuses, webhook events) and the small interfaces
// the rest of Atoll consumes. It knows nothing about Terraform. The GitHub
// implementation lives in vcs/github; a fake GitHub for tests lives in vcs/vcstest.
package vcs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Repo identifies a repository on a VCS host.
type Repo struct {
	// Host is the VCS hostname, for example "github.com".
	Host string
	// Owner is the user or organisation, for example "acme".
	Owner string
	// Name is the repository name, for example "infra".
	Name string
	// CloneURL is the http(s) or file URL git clones from. It never carries credentials.
	CloneURL string
	// DefaultBranch is the branch drift detection re-plans, for example "main".
	DefaultBranch string
}

// FullName returns "owner/name".
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// ID returns "host/owner/name", the form matched by --repo-allowlist and used in lock keys.
func (r Repo) ID() string { return r.Host + "/" + r.Owner + "/" + r.Name }

// String returns the repo's full name.
func (r Repo) String() string { return r.FullName() }

// PullState is the state of a pull request.
type PullState string

// Pull request states.
const (
	PullOpen   PullState = "open"
	PullClosed PullState = "closed"
	PullMerged PullState = "merged"
)

// PullRequest is a pull request as Atoll needs it.
type PullRequest struct {
	// BaseRepo is the repository the PR merges into; locks and comments live there.
	BaseRepo Repo
	// HeadRepo is the repository the PR's commits come from (differs for forks).
	HeadRepo   Repo
	Num        int
	HeadSHA    string
	HeadBranch string
	BaseBranch string
	// BaseSHA is the commit of the base branch the PR was last compared with.
	BaseSHA string
	// Author is the login of the user who opened the PR.
	Author string
	State  PullState
	// URL is the PR's web page.
	URL   string
	Title string
	// Mergeable is nil while GitHub has not computed it yet.
	Mergeable *bool
	// MergeableState is GitHub's mergeable_state ("clean", "blocked", "behind", "dirty", ...).
	MergeableState string
	// MergeSHA is the commit the merge made on the base branch (a merge
	// commit, a squash or the last rebased commit); "" unless State is
	// PullMerged.
	MergeSHA string
}

// Comment is a comment on a pull request or issue.
type Comment struct {
	ID   int64
	Body string
	User string
	// CreatedAt is when the comment was made (zero when unknown).
	CreatedAt time.Time
}

// StatusState is the state of a commit status.
type StatusState string

// Commit status states, as GitHub names them.
const (
	StatusPending StatusState = "pending"
	StatusSuccess StatusState = "success"
	StatusFailure StatusState = "failure"
	StatusError   StatusState = "error"
)

// Status is a commit status set on a SHA.
type Status struct {
	SHA         string
	Context     string // for example "atoll/plan"
	State       StatusState
	Description string // at most 140 characters; longer text is cut by the client
	TargetURL   string
}

// Review is a pull request review.
type Review struct {
	// ID is GitHub's ID of the review.
	ID   int64
	User string
	// State is GitHub's review state: "APPROVED", "CHANGES_REQUESTED",
	// "COMMENTED" or "PENDING". A review someone dismissed (or that GitHub
	// dismissed because new commits were pushed, when the branch protection
	// says so) keeps its entry with State "DISMISSED".
	State string
	// CommitID is the SHA of the pull request's head when the review was
	// submitted. An approval of an older head does not cover newer commits.
	CommitID string
	// SubmittedAt is when the review was submitted; zero for a pending review.
	SubmittedAt time.Time
}

// EventKind says what a webhook was about.
type EventKind int

// Webhook event kinds Atoll acts on. Everything else parses to EventIgnored.
const (
	EventIgnored EventKind = iota
	EventPing
	// EventPullOpened covers opened and reopened.
	EventPullOpened
	// EventPullUpdated is a push to the PR's head (synchronize).
	EventPullUpdated
	// EventPullClosed covers closed, merged or not (see Pull.State).
	EventPullClosed
	// EventComment is a new comment on a pull request.
	EventComment
	// EventIssueComment is a new comment on an issue that is not a pull
	// request (for example a drift report). Pull.Num is the issue number,
	// Comment and Repo are set.
	EventIssueComment
	// EventMergeGroup is a merge queue asking for checks of its merge
	// group (merge_group "checks_requested"). Pull.HeadSHA and
	// Pull.HeadBranch are the group's commit and temporary branch,
	// Pull.BaseSHA and Pull.BaseBranch the commit and branch it merges
	// into; Pull.Num is 0.
	EventMergeGroup
	// EventCheckRerun is someone pressing "Re-run" on one of Atoll's check
	// runs (check_run "rerequested"): Pull.Num and Pull.HeadSHA say where,
	// CheckExternalID which check, Sender who.
	EventCheckRerun
)

func (k EventKind) String() string {
	switch k {
	case EventPing:
		return "ping"
	case EventPullOpened:
		return "pull_opened"
	case EventPullUpdated:
		return "pull_updated"
	case EventPullClosed:
		return "pull_closed"
	case EventComment:
		return "comment"
	case EventIssueComment:
		return "issue_comment"
	case EventMergeGroup:
		return "merge_group"
	case EventCheckRerun:
		return "check_rerun"
	default:
		return "ignored"
	}
}

// Event is a parsed, verified webhook.
type Event struct {
	Kind EventKind
	// DeliveryID is the webhook's delivery ID (X-GitHub-Delivery), for logs.
	DeliveryID string
	Repo       Repo
	// Pull is set for pull request events. For comment events only Pull.Num and
	// Pull.BaseRepo are known; fetch the rest with PullGetter.
	Pull PullRequest
	// Comment is set for EventComment and EventIssueComment.
	Comment Comment
	// Sender is the login of the user who caused the event.
	Sender string
	// CheckExternalID is the rerequested check run's external ID, for
	// EventCheckRerun.
	CheckExternalID string
	// Reason says why an event was ignored, for logs.
	Reason string
	// BodyDigest is the hex SHA-256 of the raw request body, set for every
	// parsed delivery. A signature covers the body but not the delivery ID,
	// so servers use it to recognise a signed body replayed under a new ID.
	BodyDigest string
}

// Errors returned by webhook parsing. Servers map ErrBadSignature to 401 and
// ErrBadRequest to 400.
var (
	ErrBadSignature = errors.New("webhook signature does not verify")
	ErrBadRequest   = errors.New("malformed webhook")
)

// ErrNotFound is returned (wrapped) when the VCS says a resource does not exist.
var ErrNotFound = errors.New("not found")

// PullGetter fetches a pull request.
type PullGetter interface {
	GetPullRequest(ctx context.Context, repo Repo, num int) (PullRequest, error)
}

// ChangedFilesLister lists the paths a pull request changes, relative to the repo root.
type ChangedFilesLister interface {
	ListChangedFiles(ctx context.Context, repo Repo, num int) ([]string, error)
}

// Commenter creates and edits comments on pull requests and issues.
type Commenter interface {
	// CreateComment posts body and returns the new comment's ID.
	CreateComment(ctx context.Context, repo Repo, num int, body string) (int64, error)
	// UpdateComment replaces the body of an existing comment.
	UpdateComment(ctx context.Context, repo Repo, commentID int64, body string) error
}

// StatusSetter sets commit statuses.
type StatusSetter interface {
	SetStatus(ctx context.Context, repo Repo, status Status) error
}

// ReviewLister lists a pull request's reviews.
type ReviewLister interface {
	ListReviews(ctx context.Context, repo Repo, num int) ([]Review, error)
}

// Permission is a user's role on a repository, as GitHub's collaborator permission API reports it.
type Permission string

// Repository roles, highest first.
const (
	PermAdmin    Permission = "admin"
	PermMaintain Permission = "maintain"
	PermWrite    Permission = "write"
	PermTriage   Permission = "triage"
	PermRead     Permission = "read"
	PermNone     Permission = "none"
)

// permissionRank orders the roles.
var permissionRank = map[Permission]int{
	PermNone:     0,
	PermRead:     1,
	PermTriage:   2,
	PermWrite:    3,
	PermMaintain: 4,
	PermAdmin:    5,
}

// AtLeast reports whether p ranks at or above min (admin > maintain > write >
// triage > read > none), ignoring case. An unknown p ranks as none. An unknown
// min (a misspelt requirement) is met by no one, so a mistake fails closed
// rather than letting everyone through.
func (p Permission) AtLeast(min Permission) bool {
	need, ok := permissionRank[Permission(strings.ToLower(string(min)))]
	if !ok {
		return false
	}
	return permissionRank[Permission(strings.ToLower(string(p)))] >= need
}

// ParsePermission accepts the six names above (case-insensitive) and errors otherwise.
func ParsePermission(s string) (Permission, error) {
	p := Permission(strings.ToLower(s))
	if _, ok := permissionRank[p]; !ok {
		return "", fmt.Errorf("parse permission %q: want admin, maintain, write, triage, read or none", s)
	}
	return p, nil
}

// PermissionGetter reads a user's permission on a repository.
type PermissionGetter interface {
	// RepoPermission returns user's role on repo; PermNone (and no error)
	// for a user the VCS does not know.
	RepoPermission(ctx context.Context, repo Repo, user string) (Permission, error)
}

// Client is everything Atoll's PR pipeline needs from a VCS host.
type Client interface {
	PullGetter
	ChangedFilesLister
	Commenter
	StatusSetter
	ReviewLister
	PermissionGetter
}

// OpenPullLister lists a repository's open pull requests, for the poller
// that catches up on missed webhooks.
type OpenPullLister interface {
	// ListOpenPulls returns repo's open pull requests, most recently updated
	// first, and the answer's ETag. Given the ETag of an earlier answer, it
	// returns notModified (and no pulls) when nothing changed since: GitHub
	// does not count such a conditional request against the rate limit.
	ListOpenPulls(ctx context.Context, repo Repo, etag string) (pulls []PullRequest, newETag string, notModified bool, err error)
}

// StatusGetter reads commit statuses.
type StatusGetter interface {
	// CommitStatuses returns the latest status of each context on ref (a
	// SHA or branch).
	CommitStatuses(ctx context.Context, repo Repo, ref string) ([]Status, error)
}

// CheckRun is a GitHub check run: one result shown on a commit, with a
// title, a Markdown summary and text, and a "Re-run" button.
type CheckRun struct {
	// Name is shown in the checks list, for example "atoll/plan: network (default)".
	Name    string
	HeadSHA string
	// Conclusion is "success", "failure", "neutral", "cancelled" or
	// "action_required"; the run is created completed.
	Conclusion string
	// Title, Summary and Text are the run's output (Markdown).
	Title, Summary, Text string
	// DetailsURL links to the job page.
	DetailsURL string
	// ExternalID is Atoll's own reference, returned with a rerequest.
	ExternalID string
}

// Checker creates check runs; only a GitHub App may.
type Checker interface {
	CreateCheckRun(ctx context.Context, repo Repo, run CheckRun) (int64, error)
}

// PullCreator opens pull requests.
type PullCreator interface {
	// CreatePull opens a pull request from branch head into branch base of
	// repo (both in repo) and returns it.
	CreatePull(ctx context.Context, repo Repo, head, base, title, body string) (PullRequest, error)
}

// Merger merges pull requests.
type Merger interface {
	// MergePull merges the PR whose head must still be headSHA (GitHub refuses otherwise),
	// with method "merge", "squash" or "rebase" ("" = "merge"), and deletes the head
	// branch afterwards when deleteBranch is set (never for a fork's branch).
	MergePull(ctx context.Context, repo Repo, pull PullRequest, method string, deleteBranch bool) error
}

// Issue is an issue (not a pull request).
type Issue struct {
	Num   int
	Title string
	Body  string
	// State is "open" or "closed".
	State string
	// URL is the issue's web page.
	URL    string
	Labels []string
}

// Issue states, as UpdateIssue takes them.
const (
	IssueOpen   = "open"
	IssueClosed = "closed"
)

// IssueTracker opens, edits and finds issues, for drift reports.
type IssueTracker interface {
	// CreateIssue opens an issue with title, body and labels.
	CreateIssue(ctx context.Context, repo Repo, title, body string, labels []string) (Issue, error)
	// UpdateIssue replaces the body (when body != "") and sets the state
	// (IssueOpen or IssueClosed; "" leaves it).
	UpdateIssue(ctx context.Context, repo Repo, num int, body, state string) error
	// FindIssue returns the oldest issue (open or closed) with label and
	// exactly title; ok is false when there is none.
	FindIssue(ctx context.Context, repo Repo, label, title string) (issue Issue, ok bool, err error)
}

// ErrNotMergeable is wrapped when the VCS refuses a merge (conflicts, required checks, head moved).
var ErrNotMergeable = errors.New("pull request cannot be merged")

// MaxCommentLen is GitHub's limit on a comment body, in characters.
const MaxCommentLen = 65536

// ParseRepoID splits "host/owner/name" into a Repo with those three fields set.
func ParseRepoID(id string) (Repo, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Repo{}, fmt.Errorf("parse repo id %q: want host/owner/name", id)
	}
	return Repo{Host: parts[0], Owner: parts[1], Name: parts[2]}, nil
}
