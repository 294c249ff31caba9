// Package locking defines Atoll's workspace locks: a lock per (repo, dir, workspace)
// held by one pull request, taken all-or-nothing for every project a command touches,
// and released on merge, close or unlock. It also defines the per-PR plan records that
// live beside the locks, because both must survive restarts and be shared between
// replicas. Backends: locking/bolt (embedded, the default) and locking/redis. Both pass
// the conformance suite in locking/lockingtest.
package locking

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Key identifies a lockable workspace.
type Key struct {
	// Repo is "host/owner/name" (vcs.Repo.ID()).
	Repo string
	// Dir is the project directory relative to the repo root, "." for the root.
	Dir string
	// Workspace is the Terraform workspace, "default" when unset.
	Workspace string
}

// String returns the key's canonical form, "repo|dir|workspace" with each part
// query-escaped so the result is unambiguous and safe in URLs and database keys.
func (k Key) String() string {
	return url.QueryEscape(k.Repo) + "|" + url.QueryEscape(k.Dir) + "|" + url.QueryEscape(k.Workspace)
}

// ParseKey parses the output of Key.String.
func ParseKey(s string) (Key, error) {
	parts := strings.Split(s, "|")
	if len(parts) != 3 {
		return Key{}, fmt.Errorf("parse lock key %q: want three parts", s)
	}
	var out [3]string
	for i, p := range parts {
		v, err := url.QueryUnescape(p)
		if err != nil || v == "" {
			return Key{}, fmt.Errorf("parse lock key %q: bad part %d", s, i)
		}
		out[i] = v
	}
	return Key{Repo: out[0], Dir: out[1], Workspace: out[2]}, nil
}

// Lock is a held lock.
type Lock struct {
	Key Key
	// Pull is the number of the PR holding the lock.
	Pull int
	// PullURL links to the PR, for pages and comments.
	PullURL string
	// HeadSHA is the PR head commit the lock was last taken for.
	HeadSHA string
	// User is the login that caused the lock (PR author or commenter).
	User string
	// Project is the project name, "" when the project has none.
	Project string
	// Time is when the PR first took the lock.
	Time time.Time
}

// ID returns the lock's URL-safe identifier (its key string).
func (l Lock) ID() string { return l.Key.String() }

// ErrHeld is wrapped by *HeldError when another PR holds a lock.
var ErrHeld = errors.New("lock held by another pull request")

// ErrNotOwner is returned when a PR tries to release a lock another PR holds.
var ErrNotOwner = errors.New("lock held by another pull request")

// ErrNotFound is returned when a lock or plan record does not exist.
var ErrNotFound = errors.New("not found")

// HeldError says which lock blocked an acquisition.
type HeldError struct {
	// Held is the lock the other PR holds.
	Held Lock
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s/%s is locked by pull request #%d", e.Held.Key.Dir, e.Held.Key.Workspace, e.Held.Pull)
}

// Unwrap makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Unwrap() error { return ErrHeld }

// Filter selects locks in List. Zero fields match everything.
type Filter struct {
	Repo string
	Pull int
}

// Match reports whether l passes the filter.
func (f Filter) Match(l Lock) bool {
	return (f.Repo == "" || f.Repo == l.Key.Repo) && (f.Pull == 0 || f.Pull == l.Pull)
}

// Locker is a lock store. Implementations are safe for concurrent use, including
// from several processes sharing one store.
type Locker interface {
	// Acquire takes every lock in locks or none. A lock already held by the same
	// repo and PR is refreshed (HeadSHA, User, Project updated; Time kept). If any
	// is held by another PR it returns a *HeldError for the first such lock.
	Acquire(ctx context.Context, locks []Lock) error
	// Release releases the lock at key if pull holds it. It returns ErrNotFound
	// if nothing holds it and ErrNotOwner if another PR does. pull == 0 releases
	// whatever holds it (admin unlock from the web page or API).
	Release(ctx context.Context, key Key, pull int) (Lock, error)
	// ReleasePull releases every lock held by pull in repo and returns them.
	ReleasePull(ctx context.Context, repo string, pull int) ([]Lock, error)
	// List returns the locks passing f, sorted by key.
	List(ctx context.Context, f Filter) ([]Lock, error)
	// Get returns the lock at key or ErrNotFound.
	Get(ctx context.Context, key Key) (Lock, error)
}

// ResourceChange is one resource a plan acts on: its address and action
// ("create", "update", "delete", "replace", ...).
type ResourceChange struct {
	Address string `json:"address"`
	Action  string `json:"action"`
}

// Plan is the record of a saved plan for one project of one PR.
type Plan struct {
	Key  Key
	Pull int
	// Project is the project name, "" when the project has none.
	Project string
	// HeadSHA is the commit the plan was made from; apply refuses it once the PR moves.
	HeadSHA string
	// Path is the plan file's path on the replica that made it.
	Path string
	// Data is the plan file's contents, kept so another replica can apply it.
	Data []byte
	// SHA256 is the hex SHA-256 of Data, checked before apply.
	SHA256 string
	// Summary is the human summary, for example "1 to add, 0 to change, 0 to destroy".
	Summary string
	// HasChanges is false for a plan with no changes.
	HasChanges bool
	// Applied is set once the plan has been applied.
	Applied bool
	// Policy is the policy check of the plan, nil when none ran.
	Policy *PolicyCheck
	// ExtraArgs are the terraform flags the plan was made with (from the
	// comment, after "--").
	ExtraArgs []string
	// ArgsChangedAt is when the plan last changed: the project was planned
	// with extra arguments different from the plan before it, or the planned
	// changes differ (zero when neither ever happened). Approvals given
	// before were given for another plan.
	ArgsChangedAt time.Time
	// ChangesDigest identifies what the plan changes (runner's
	// PlanSummary.ChangesDigest); a failed plan keeps the last one's.
	ChangesDigest string
	// Resources lists the resources the plan acts on and how, to show what
	// differs between two plans of the same project.
	Resources []ResourceChange
	// MergeSHA is set on a plan of the merge commit of a merged pull
	// request (apply_on_merge) that was not applied: it differed from the
	// reviewed plan, or its apply failed. The pull request keeps its lock
	// until `atoll apply` applies it or `atoll unlock` drops it.
	MergeSHA string
	// SupersededReviews are the IDs of the reviews the pull request had when
	// the arguments last changed: none of them approves this plan. Nil when
	// they could not be read; then only reviews submitted after
	// ArgsChangedAt count.
	SupersededReviews []int64
	// Failed marks the record of a plan that failed: it replaces the previous
	// plan, which can no longer be applied, and has no Data.
	Failed bool
	Time   time.Time
}

// PolicyCheck is the result of checking a plan against the server's policy sets.
type PolicyCheck struct {
	Results []PolicyResult `json:"results"`
	// ApprovedBy is the policy owner who approved every failure at once, ""
	// if none did. Records written before approvals were counted per policy
	// set have it; newer ones keep approvals in each PolicyResult.
	ApprovedBy string `json:"approved_by,omitempty"`
}

// PolicyResult is one policy set's verdict on a plan.
type PolicyResult struct {
	Set      string   `json:"set"`
	Failures []string `json:"failures,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Required is how many distinct policy owners must approve the set's
	// failures (approve_count); 0 counts as 1.
	Required int `json:"required,omitempty"`
	// Approvals are the distinct policy owners who approved the failures,
	// in the order they did.
	Approvals []string `json:"approvals,omitempty"`
}

// Needed is how many approvals the set's failures need: Required, at least 1.
func (r PolicyResult) Needed() int { return max(r.Required, 1) }

// Passed reports whether the set passed, or enough policy owners approved
// its failures.
func (r PolicyResult) Passed() bool {
	return len(r.Failures) == 0 || len(r.Approvals) >= r.Needed()
}

// Passed reports whether every policy set passed, or policy owners approved
// the failures.
func (c *PolicyCheck) Passed() bool {
	if c == nil {
		return false
	}
	if c.ApprovedBy != "" {
		return true
	}
	for _, r := range c.Results {
		if !r.Passed() {
			return false
		}
	}
	return true
}

// Approvers returns the distinct policy owners who approved any failure, in
// the order they first did.
func (c *PolicyCheck) Approvers() []string {
	if c == nil {
		return nil
	}
	var out []string
	if c.ApprovedBy != "" {
		out = append(out, c.ApprovedBy)
	}
	for _, r := range c.Results {
		for _, u := range r.Approvals {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// PlanStore keeps plan records per PR.
type PlanStore interface {
	// SavePlan stores p, replacing any record for the same repo, pull and key.
	SavePlan(ctx context.Context, p Plan) error
	// Plans returns every plan record of pull in repo, sorted by key.
	Plans(ctx context.Context, repo string, pull int) ([]Plan, error)
	// DeletePlans removes every plan record of pull in repo.
	DeletePlans(ctx context.Context, repo string, pull int) error
}

// Store is a Locker and a PlanStore backed by the same database.
type Store interface {
	Locker
	LockQueue
	PlanStore
	Journal
	RepoRegistry
	AuditLog
	Close() error
}

// JobRecord is a job's entry in the journal: written when its webhook is
// accepted, updated as it runs, deleted when it ends. A record still there at
// start-up belongs to a job a crash cut off.
type JobRecord struct {
	ID   string
	Repo string // host/owner/name
	Pull int
	// State is "queued" or "running".
	State string
	// Work is the server's description of the job (JSON), to run it again.
	Work []byte
	// HeadSHA is the commit the job worked on, once known; statuses go there.
	HeadSHA string
	// Comments are the comments the job posted, to say what happened to it.
	Comments []int64
	Updated  time.Time
}

// Journal records unfinished jobs, so that a crash leaves none unexplained.
type Journal interface {
	// SaveJob stores j, replacing the record with the same ID.
	SaveJob(ctx context.Context, j JobRecord) error
	// DeleteJob removes the record of job id; removing none is no error.
	DeleteJob(ctx context.Context, id string) error
	// Jobs returns every record, oldest update first.
	Jobs(ctx context.Context) ([]JobRecord, error)
}

// RepoRecord is a repository Atoll has had a webhook from: the PR poller
// lists its open pull requests, so that work a missed webhook would have
// started still happens.
type RepoRecord struct {
	// ID is "host/owner/name".
	ID string
	// Repo is the server's description of the repository (JSON).
	Repo []byte
	// Seen is when Atoll last had a webhook from it.
	Seen time.Time
}

// RepoRegistry remembers the repositories Atoll has seen, across restarts
// and replicas.
type RepoRegistry interface {
	// SaveRepo stores r, replacing the record with the same ID.
	SaveRepo(ctx context.Context, r RepoRecord) error
	// Repos returns every record, sorted by ID.
	Repos(ctx context.Context) ([]RepoRecord, error)
	// DeleteRepo forgets repository id; forgetting none is no error.
	DeleteRepo(ctx context.Context, id string) error
}
