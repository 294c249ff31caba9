package drift

import (
	"context"
	"sync"
	"testing"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/vcs"
)

type fakeStatuses struct {
	mu  sync.Mutex // guards set
	set []vcs.Status
}

func (f *fakeStatuses) SetStatus(_ context.Context, _ vcs.Repo, st vcs.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = append(f.set, st)
	return nil
}

// A repos.yaml drift block limits the projects checked to its globs and
// reports to the commit status instead of issues when it says so.
func TestDriftBlockProjectsAndStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "network", "apps/web", "apps/api")
	sc, err := config.ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  drift:
    projects: ["apps/**"]
    report: [status]
`))
	if err != nil {
		t.Fatal(err)
	}
	st := &fakeStatuses{}
	d, err := New(Config{Runner: f.run, Issues: f.issues, Locks: f.locks, RepoCfg: sc, Statuses: st, Now: f.clock.Now, PageURL: "https://atoll.example/drift"})
	if err != nil {
		t.Fatal(err)
	}
	f.run.setPlan("apps/web", driftPlan("large"))
	results, err := d.CheckRepo(context.Background(), testRepo)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, r := range results {
		dirs = append(dirs, r.Dir)
	}
	if len(dirs) != 2 || dirs[0] != "apps/api" || dirs[1] != "apps/web" {
		t.Errorf("checked %v, want only apps/api and apps/web", dirs)
	}
	if calls := f.issues.recorded(); len(calls) != 0 {
		t.Errorf("issues touched although report is [status]: %+v", calls)
	}
	if len(st.set) != 1 || st.set[0].Context != "atoll/drift" || st.set[0].State != vcs.StatusFailure ||
		st.set[0].Description != "drift in apps/web" || st.set[0].SHA == "" {
		t.Errorf("statuses = %+v, want one atoll/drift failure naming apps/web", st.set)
	}
	f.run.setPlan("apps/web", inSyncPlan)
	if _, err := d.CheckRepo(context.Background(), testRepo); err != nil {
		t.Fatal(err)
	}
	if last := st.set[len(st.set)-1]; last.State != vcs.StatusSuccess || last.Description != "2 project(s) in sync" {
		t.Errorf("status once in sync = %+v", last)
	}
}
