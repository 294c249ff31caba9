package config

import (
	"fmt"
	"strings"
)

// ServerDependent lists what in a parsed repo config is valid but works only
// if the server allows it: keys that need repos.yaml's allowed_overrides,
// workflows that need allow_custom_workflows, and workflow names that only
// the server's repos.yaml can define. They are what Resolve refuses under the
// default server configuration; `atoll validate` without --repo-config shows
// them as warnings, since it does not know the server's settings.
func (rc *RepoConfig) ServerDependent() []*Error {
	var out ErrorList
	warn := func(path, format string, args ...any) {
		p := rc.keyPos(path)
		out = append(out, &Error{File: rc.File, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	needs := func(path, key string) {
		warn(path, "works only if the server allows it: its repos.yaml must list %s in allowed_overrides for this repo", key)
	}
	if rc.ApplyOnMerge != nil {
		needs("apply_on_merge", "apply_on_merge")
	}
	if len(rc.Workflows) > 0 {
		warn("workflows", "works only if the server allows it: its repos.yaml must set allow_custom_workflows: true for this repo")
	}
	for i, rp := range rc.Projects {
		pp := index("projects", i)
		for _, key := range overridableKeys {
			if _, written := rc.keys[child(pp, key)]; written {
				needs(child(pp, key), key)
			}
		}
		if rp.Workflow != "" && rp.Workflow != "default" {
			if _, defined := rc.Workflows[rp.Workflow]; !defined {
				warn(child(pp, "workflow"), "workflow %q is not defined in this file, so the server's repos.yaml must define it%s", rp.Workflow, repoWorkflowList(rc))
			}
		}
	}
	out.sort()
	return out
}

func repoWorkflowList(rc *RepoConfig) string {
	if len(rc.Workflows) == 0 {
		return ""
	}
	return " (this file defines: " + strings.Join(sortedKeys(rc.Workflows), ", ") + ")"
}
