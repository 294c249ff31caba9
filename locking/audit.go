package locking

import (
	"context"
	"time"
)

// AuditEvent is one entry of the audit trail: who did what, where, with what
// result. Entries are never changed once written; they are dropped only when
// older than the retention.
type AuditEvent struct {
	// ID is the entry's position in the log, set by the store; it orders
	// entries and is the pagination cursor.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// User is the GitHub login that asked ("schedule" for the drift
	// schedule, "web" or "api" when no login is known).
	User string `json:"user"`
	// Action is what was done: plan, apply, unlock, approve_policies,
	// drift_remediate.
	Action string `json:"action"`
	// Via is how it was asked for: comment, autoplan, web, api, schedule.
	Via       string `json:"via"`
	Repo      string `json:"repo"`            // host/owner/name
	Pull      int    `json:"pull,omitempty"`  // pull request (or drift issue) number
	Issue     bool   `json:"issue,omitempty"` // Pull is an issue, not a pull request
	Project   string `json:"project,omitempty"`
	Dir       string `json:"dir,omitempty"`
	Workspace string `json:"workspace,omitempty"`
	Commit    string `json:"commit,omitempty"`
	// Result is the outcome: planned, applied, failed, refused, locked,
	// released, approved...
	Result string `json:"result"`
	// Detail adds a short explanation (a refusal's rule, a failing step).
	Detail string `json:"detail,omitempty"`
	JobID  string `json:"job_id,omitempty"`
}

// AuditQuery selects audit entries, newest first. Empty fields match all.
type AuditQuery struct {
	Repo, User, Action, Result string
	// From and To bound the entries' time (inclusive); zero is unbounded.
	From, To time.Time
	// Cursor continues a listing after the entry with this ID (exclusive).
	Cursor string
	// Limit is the page size (1-500; 50 when 0).
	Limit int
}

// Match reports whether e passes q's filters (not its cursor or limit).
func (q AuditQuery) Match(e AuditEvent) bool {
	return (q.Repo == "" || q.Repo == e.Repo) && (q.User == "" || q.User == e.User) &&
		(q.Action == "" || q.Action == e.Action) && (q.Result == "" || q.Result == e.Result) &&
		(q.From.IsZero() || !e.Time.Before(q.From)) && (q.To.IsZero() || !e.Time.After(q.To))
}

// PageSize is q's Limit, bounded.
func (q AuditQuery) PageSize() int {
	switch {
	case q.Limit <= 0:
		return 50
	case q.Limit > 500:
		return 500
	}
	return q.Limit
}

// MaxAuditScan bounds the entries one query reads: a filter that matches
// little over a long history returns a short page and a cursor to go on.
const MaxAuditScan = 20000

// AuditLog is the append-only audit trail.
type AuditLog interface {
	// AppendAudit adds e; its ID is set by the store, and a zero Time is now.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// QueryAudit returns the entries q selects, newest first, and the cursor
	// of the next page ("" when there is none).
	QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, string, error)
	// PruneAudit drops entries older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}
