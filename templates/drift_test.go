package templates

import (
	"strings"
	"testing"
)

func TestDriftGolden(t *testing.T) {
	t.Parallel()
	since := now.Add(-2 * 60 * 60 * 1e9)
	tests := []struct {
		name string
		d    DriftIssue
		want []string
	}{
		{
			name: "drift_issue",
			d: DriftIssue{Repo: "acme/infra", Project: "network", Workspace: "default", Branch: "main", Commit: "abc1234",
				Since: since, Checked: now, PageURL: "https://atoll.example.com/drift", Marker: `atoll-drift {"dir":"network"}`,
				Drift: []DriftResource{{Address: "sandbox_server.web", Action: "update", Attrs: []DriftAttr{{Name: "size", Git: `"small"`, Reality: `"large"`}}}}},
			want: []string{
				"Drift detected since 2026-11-23 10:00 UTC, at commit `abc1234` of `main`. 1 resource changed outside Terraform: `sandbox_server.web` (`size`: `\"small\"` in Git, `\"large\"` in reality). 0 changes are in Git but not applied.",
				"To restore Git's state, comment `atoll apply` here. To keep the change, merge a pull request that writes it into Git. This issue closes itself once the project is back in sync.",
				"<!-- atoll-drift {\"dir\":\"network\"} -->",
			},
		},
		{
			name: "drift_issue_deleted_and_pending",
			d: DriftIssue{Repo: "acme/infra", Project: "app", Workspace: "staging", Branch: "main", Commit: "def5678", Since: since, Checked: now,
				Drift:   []DriftResource{{Address: "sandbox_server.db", Action: "delete"}, {Address: "sandbox_server.web", Action: "update", Attrs: []DriftAttr{{Name: "size", Git: `"small"`, Reality: `"large"`}, {Name: "tags", Git: `{}`, Reality: `{"owner":"ops"}`}}}},
				Pending: []Resource{{Action: ActionCreate, Address: "sandbox_server.cache"}}},
			want: []string{
				"2 resources changed outside Terraform: `sandbox_server.db` (deleted outside Terraform); `sandbox_server.web` (`size`: `\"small\"` in Git, `\"large\"` in reality, `tags`: `{}` in Git, `{\"owner\":\"ops\"}` in reality).",
				"1 change is in Git but not applied: + create `sandbox_server.cache`.",
			},
		},
		{
			name: "drift_in_sync",
			d:    DriftIssue{Repo: "acme/infra", Project: "network", Workspace: "default", Branch: "main", Commit: "0123abc", Since: since, Checked: now, InSync: true},
			want: []string{"### Back in sync: `network` · workspace `default`", "As of 2026-11-23 12:00 UTC, at commit `0123abc` of `main`, the infrastructure matches Git again."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Drift(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			checkComment(t, got, tt.want)
			golden(t, tt.name, got)
		})
	}
	if got := DriftTitle("acme/infra", "network", "default"); got != "Drift: acme/infra network (default)" {
		t.Errorf("DriftTitle = %q", got)
	}
	if !strings.HasPrefix(DriftTitle("a/b", "p", "w"), "Drift: ") {
		t.Error("title prefix")
	}
}

func TestCodeSpanKeepsToOneLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"network":            "`network`",
		"a`b":                "`` a`b ``",
		"x\n\n# injected":    "`x  # injected`",
		"x\r\n[link](http:)": "`x [link](http:)`",
	} {
		if got := codeSpan(in); got != want {
			t.Errorf("codeSpan(%q) = %q, want %q", in, got, want)
		}
	}
}
