package drift

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/templates"
)

func TestDiffPlan(t *testing.T) {
	t.Parallel()
	// The shape terraform 1.5 writes: resource_drift for what changed outside
	// Terraform, resource_changes for what the plan would do.
	plan := `{
  "format_version": "1.2",
  "resource_drift": [
    {"address": "sandbox_server.web", "type": "sandbox_server", "name": "web",
     "change": {"actions": ["update"],
       "before": {"id": "1", "name": "web", "size": "small", "password": "hunter2", "tags": {}},
       "after":  {"id": "1", "name": "web", "size": "large", "password": "changed", "tags": {"owner": "ops"}},
       "before_sensitive": {"password": true}, "after_sensitive": {"password": true}}},
    {"address": "sandbox_server.db", "type": "sandbox_server", "name": "db",
     "change": {"actions": ["delete"], "before": {"id": "2", "name": "db", "size": "small"}, "after": null}}
  ],
  "resource_changes": [
    {"address": "sandbox_server.web", "change": {"actions": ["update"]}},
    {"address": "sandbox_server.db", "change": {"actions": ["create"]}},
    {"address": "sandbox_server.cache", "change": {"actions": ["create"]}},
    {"address": "sandbox_server.old", "change": {"actions": ["delete", "create"]}},
    {"address": "sandbox_server.same", "change": {"actions": ["no-op"]}},
    {"address": "data.sandbox_info.x", "change": {"actions": ["read"]}}
  ]
}`
	drift, pending, err := diffPlan([]byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	wantDrift := []templates.DriftResource{
		{Address: "sandbox_server.web", Action: "update", Attrs: []templates.DriftAttr{
			{Name: "password", Git: "(sensitive)", Reality: "(sensitive)"},
			{Name: "size", Git: `"small"`, Reality: `"large"`},
			{Name: "tags", Git: `{}`, Reality: `{"owner":"ops"}`},
		}},
		{Address: "sandbox_server.db", Action: "delete"},
	}
	if d := cmp.Diff(wantDrift, drift); d != "" {
		t.Errorf("drift (-want +got):\n%s", d)
	}
	wantPending := []templates.Resource{
		{Action: templates.ActionCreate, Address: "sandbox_server.cache"},
		{Action: templates.ActionReplace, Address: "sandbox_server.old"},
	}
	if d := cmp.Diff(wantPending, pending); d != "" {
		t.Errorf("pending (-want +got):\n%s", d)
	}
	for _, a := range drift[0].Attrs {
		if strings.Contains(a.Git+a.Reality, "hunter2") || strings.Contains(a.Git+a.Reality, "changed") {
			t.Errorf("a sensitive value leaked: %+v", a)
		}
	}
	if _, _, err := diffPlan([]byte("{not json")); err == nil {
		t.Error("diffPlan accepted malformed JSON")
	}
}

func TestParseMarker(t *testing.T) {
	t.Parallel()
	m, ok := parseMarker("body\n\n<!-- atoll-drift {\"repo\":\"github.com/a/b\",\"dir\":\"net\",\"workspace\":\"default\",\"since\":\"2026-11-23T10:00:00Z\"} -->\n")
	if !ok || m.Dir != "net" || m.Repo != "github.com/a/b" || m.Since.Hour() != 10 {
		t.Errorf("parseMarker = %+v, %v", m, ok)
	}
	if _, ok := parseMarker("no marker"); ok {
		t.Error("parseMarker found a marker in plain text")
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	long := "a" + strings.Repeat("é", 150) // é is 2 bytes: byte 197 of the JSON is mid-character
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"null", nil, "null"},
		{"string", "small", `"small"`},
		{"map", map[string]any{"a": 1.0}, `{"a":1}`},
		{"long value cut at a character boundary", long, `"a` + strings.Repeat("é", 97) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := show(tt.in)
			if got != tt.want || !utf8.ValidString(got) {
				t.Errorf("show = %q, want %q", got, tt.want)
			}
		})
	}
}
