package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atollhq/atoll/locking"
)

// Field prefixes in a PR's plans hash: plan metadata and plan file bytes.
const (
	metaField = "m|"
	dataField = "d|"
)

// planRecord is a plan's metadata JSON; the plan file is a field of its own.
type planRecord struct {
	Repo       string    `json:"repo"`
	Dir        string    `json:"dir"`
	Workspace  string    `json:"workspace"`
	Pull       int       `json:"pull"`
	Project    string    `json:"project,omitempty"`
	HeadSHA    string    `json:"head_sha,omitempty"`
	Path       string    `json:"path,omitempty"`
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

// SavePlan stores p, replacing any record for the same repo, pull and key. A
// zero Time is set from the store's clock. Metadata and data are written in
// one HSET, so readers never see half a record.
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
	meta, err := json.Marshal(planRecord{
		Repo: p.Key.Repo, Dir: p.Key.Dir, Workspace: p.Key.Workspace,
		Pull: p.Pull, Project: p.Project, HeadSHA: p.HeadSHA, Path: p.Path,
		SHA256: p.SHA256, Summary: p.Summary,
		HasChanges: p.HasChanges, Applied: p.Applied, Time: p.Time.UTC(), Policy: p.Policy,
		ExtraArgs: p.ExtraArgs, ArgsChangedAt: p.ArgsChangedAt.UTC(), Failed: p.Failed, SupersededReviews: p.SupersededReviews, ChangesDigest: p.ChangesDigest,
		Resources: p.Resources, MergeSHA: p.MergeSHA,
	})
	if err != nil {
		return fmt.Errorf("save plan %s: encode: %w", p.Key, err)
	}
	id := p.Key.String()
	err = s.write(ctx, func(pipe goredis.Pipeliner) error {
		pipe.HSet(ctx, s.plansKey(p.Key.Repo, p.Pull), metaField+id, meta, dataField+id, p.Data)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save plan %s: %w", p.Key, err)
	}
	return nil
}

// Plans returns every plan record of pull in repo, sorted by key string.
func (s *Store) Plans(ctx context.Context, repo string, pull int) ([]locking.Plan, error) {
	fields, err := s.client.HGetAll(ctx, s.plansKey(repo, pull)).Result()
	if err != nil {
		return nil, fmt.Errorf("list plans of %s#%d: %w", repo, pull, err)
	}
	out := []locking.Plan{}
	for f, v := range fields {
		id, ok := strings.CutPrefix(f, metaField)
		if !ok {
			continue
		}
		var r planRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("list plans of %s#%d: decode %s: %w", repo, pull, id, err)
		}
		p := locking.Plan{
			Key:  locking.Key{Repo: r.Repo, Dir: r.Dir, Workspace: r.Workspace},
			Pull: r.Pull, Project: r.Project, HeadSHA: r.HeadSHA, Path: r.Path,
			SHA256: r.SHA256, Summary: r.Summary,
			HasChanges: r.HasChanges, Applied: r.Applied, Time: r.Time, Policy: r.Policy,
			ExtraArgs: r.ExtraArgs, ArgsChangedAt: r.ArgsChangedAt, Failed: r.Failed, SupersededReviews: r.SupersededReviews, ChangesDigest: r.ChangesDigest,
			Resources: r.Resources, MergeSHA: r.MergeSHA,
		}
		if d := fields[dataField+id]; d != "" {
			p.Data = []byte(d)
		}
		out = append(out, p)
	}
	sortPlans(out)
	return out, nil
}

// DeletePlans removes every plan record of pull in repo.
func (s *Store) DeletePlans(ctx context.Context, repo string, pull int) error {
	err := s.write(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, s.plansKey(repo, pull))
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete plans of %s#%d: %w", repo, pull, err)
	}
	return nil
}

// sortPlans sorts plans by key string.
func sortPlans(plans []locking.Plan) {
	slices.SortFunc(plans, func(a, b locking.Plan) int { return strings.Compare(a.Key.String(), b.Key.String()) })
}
