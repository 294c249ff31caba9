package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/atollhq/atoll/locking"
)

// planRecord is a plan's stored JSON form; Data is base64 in JSON.
type planRecord struct {
	Repo       string    `json:"repo"`
	Dir        string    `json:"dir"`
	Workspace  string    `json:"workspace"`
	Pull       int       `json:"pull"`
	Project    string    `json:"project,omitempty"`
	HeadSHA    string    `json:"head_sha,omitempty"`
	Path       string    `json:"path,omitempty"`
	Data       []byte    `json:"data,omitempty"`
	SHA256     string    `json:"sha256,omitempty"`
	Summary    string    `json:"summary,omitempty"`
	HasChanges bool      `json:"has_changes"`
	Applied    bool      `json:"applied"`
	Time       time.Time `json:"time"`
	// Policy is the plan's policy check, if one ran.
	Policy        *locking.PolicyCheck `json:"policy,omitempty"`
	ExtraArgs     []string             `json:"extra_args,omitempty"`
	ArgsChangedAt time.Time            `json:"args_changed_at,omitempty"`
	Failed        bool                 `json:"failed,omitempty"`
	// Superseded keeps nil (unknown) apart from empty (none): no omitempty.
	SupersededReviews []int64 `json:"superseded_reviews"`
	ChangesDigest     string  `json:"changes_digest,omitempty"`
	// Resources and MergeSHA: see locking.Plan.
	Resources []locking.ResourceChange `json:"resources,omitempty"`
	MergeSHA  string                   `json:"merge_sha,omitempty"`
}

// planPrefix is the key prefix of every plan of pull in repo: "repo|pull|".
func planPrefix(repo string, pull int) []byte {
	return []byte(url.QueryEscape(repo) + "|" + strconv.Itoa(pull) + "|")
}

// planID is a plan's key in the plans bucket: "repo|pull|key".
func planID(p locking.Plan) []byte {
	return append(planPrefix(p.Key.Repo, p.Pull), p.Key.String()...)
}

// SavePlan stores p, replacing any record for the same repo, pull and key. A
// zero Time is set from the store's clock.
func (s *Store) SavePlan(ctx context.Context, p locking.Plan) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save plan %s: %w", p.Key, err)
	}
	if err := locking.ValidatePlan(p); err != nil {
		return fmt.Errorf("save plan %s: %w", p.Key, err)
	}
	if p.Time.IsZero() {
		p.Time = s.now()
	}
	v, err := json.Marshal(planRecord{
		Repo: p.Key.Repo, Dir: p.Key.Dir, Workspace: p.Key.Workspace,
		Pull: p.Pull, Project: p.Project, HeadSHA: p.HeadSHA, Path: p.Path,
		Data: p.Data, SHA256: p.SHA256, Summary: p.Summary,
		HasChanges: p.HasChanges, Applied: p.Applied, Time: p.Time.UTC(), Policy: p.Policy,
		ExtraArgs: p.ExtraArgs, ArgsChangedAt: p.ArgsChangedAt.UTC(), Failed: p.Failed, SupersededReviews: p.SupersededReviews, ChangesDigest: p.ChangesDigest,
		Resources: p.Resources, MergeSHA: p.MergeSHA,
	})
	if err != nil {
		return fmt.Errorf("save plan %s: encode: %w", p.Key, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(plansBucket).Put(planID(p), v)
	})
	if err != nil {
		return fmt.Errorf("save plan %s: %w", p.Key, err)
	}
	return nil
}

// Plans returns every plan record of pull in repo, sorted by key string.
func (s *Store) Plans(ctx context.Context, repo string, pull int) ([]locking.Plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list plans of %s#%d: %w", repo, pull, err)
	}
	out := []locking.Plan{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return scanPrefix(tx.Bucket(plansBucket), planPrefix(repo, pull), func(_, v []byte) error {
			var r planRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode plan: %w", err)
			}
			out = append(out, locking.Plan{
				Key:  locking.Key{Repo: r.Repo, Dir: r.Dir, Workspace: r.Workspace},
				Pull: r.Pull, Project: r.Project, HeadSHA: r.HeadSHA, Path: r.Path,
				Data: r.Data, SHA256: r.SHA256, Summary: r.Summary,
				HasChanges: r.HasChanges, Applied: r.Applied, Time: r.Time, Policy: r.Policy,
				ExtraArgs: r.ExtraArgs, ArgsChangedAt: r.ArgsChangedAt, Failed: r.Failed, SupersededReviews: r.SupersededReviews, ChangesDigest: r.ChangesDigest,
				Resources: r.Resources, MergeSHA: r.MergeSHA,
			})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list plans of %s#%d: %w", repo, pull, err)
	}
	return out, nil
}

// DeletePlans removes every plan record of pull in repo.
func (s *Store) DeletePlans(ctx context.Context, repo string, pull int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete plans of %s#%d: %w", repo, pull, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(plansBucket)
		var ids [][]byte
		err := scanPrefix(b, planPrefix(repo, pull), func(k, _ []byte) error {
			ids = append(ids, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := b.Delete(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete plans of %s#%d: %w", repo, pull, err)
	}
	return nil
}
