package config

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

func validGlob(g string) bool { return g != "" && doublestar.ValidatePattern(g) }

// clone returns a copy of p that shares no slices with it.
func (p Project) clone() Project {
	p.WhenModified = slices.Clone(p.WhenModified)
	p.PlanRequirements = slices.Clone(p.PlanRequirements)
	p.ApplyRequirements = slices.Clone(p.ApplyRequirements)
	p.ImportRequirements = slices.Clone(p.ImportRequirements)
	p.DependsOn = slices.Clone(p.DependsOn)
	p.SilencePRComments = slices.Clone(p.SilencePRComments)
	return p
}

// whenModifiedMatches applies a project's when_modified patterns, which are
// relative to its dir, to repo-relative changed files. As in Atlantis (which uses
// .dockerignore rules), each pattern is joined to the project dir, a pattern also
// matches a file inside a matching directory, a leading ! excludes, and the last
// matching pattern decides.
func whenModifiedMatches(dir string, patterns []string, changed []string) bool {
	type rule struct {
		glob string
		neg  bool
	}
	rules := make([]rule, 0, len(patterns))
	for _, pat := range patterns {
		pat = strings.TrimSpace(pat)
		neg := strings.HasPrefix(pat, "!")
		rules = append(rules, rule{glob: path.Join(dir, strings.TrimPrefix(pat, "!")), neg: neg})
	}
	for _, f := range changed {
		matched := false
		for _, r := range rules {
			if globMatchesPathOrParent(r.glob, f) {
				matched = !r.neg
			}
		}
		if matched {
			return true
		}
	}
	return false
}

// globMatchesPathOrParent matches pattern against p and each of p's parent dirs.
func globMatchesPathOrParent(pattern, p string) bool {
	for q := p; q != "." && q != "/"; q = path.Dir(q) {
		if ok, _ := doublestar.Match(pattern, q); ok {
			return true
		}
	}
	return false
}

// ignored says whether repo-relative p is covered by autodiscover.ignore_paths.
func (r *Resolved) ignored(p string) bool {
	for _, pat := range r.Autodiscover.IgnorePaths {
		if globMatchesPathOrParent(path.Clean(pat), p) {
			return true
		}
	}
	return false
}

// discovering says whether autodiscovery adds projects.
func (r *Resolved) discovering() bool {
	switch r.Autodiscover.Mode {
	case AutodiscoverEnabled:
		return true
	case AutodiscoverDisabled:
		return false
	}
	return r.configured == 0
}

// isTerraformFile says whether a changed file can change a plan by Atoll's default
// rule (the default when_modified patterns).
func isTerraformFile(f string) bool {
	for _, pat := range DefaultWhenModified {
		if ok, _ := doublestar.Match(pat, f); ok {
			return true
		}
	}
	return false
}

// Projects returns the projects to autoplan for a pull request whose changed files
// (repo-relative, slash-separated) are changed. It takes the configured projects
// whose when_modified patterns match and, with module-aware autoplan, those using a
// changed local module; then, as autodiscover allows, the directories of changed
// Terraform files that no configured project covers, and the root projects that use
// a changed module. Projects with autoplan disabled, in directories that do not
// exist (deleted by the PR) or under ignore_paths are left out. The result is
// sorted by execution_order_group, dir, workspace and name.
func (r *Resolved) Projects(repoRoot string, changed []string) ([]Project, error) {
	c := openCheckout(repoRoot)
	defer c.close()
	g, err := scanRepo(c)
	if err != nil {
		return nil, err
	}
	var clean []string
	for _, f := range changed {
		f = path.Clean(strings.TrimPrefix(filepath.ToSlash(f), "/"))
		if f != "." && !strings.HasPrefix(f, "../") {
			clean = append(clean, f)
		}
	}
	changedModules := map[string]bool{}
	if r.AutoplanModules {
		for _, f := range clean {
			if m := g.moduleOf(f); m != "" && !r.ignored(f) {
				changedModules[m] = true
			}
		}
	}

	var out []Project
	for _, p := range r.ConfiguredProjects {
		if !p.AutoplanEnabled || !c.isDir(p.Dir) {
			continue
		}
		hit := whenModifiedMatches(p.Dir, p.WhenModified, clean)
		if !hit && len(changedModules) > 0 {
			for m := range g.deps(p.Dir) {
				if changedModules[m] {
					hit = true
					break
				}
			}
		}
		if hit {
			out = append(out, p.clone())
		}
	}

	if r.discovering() {
		covered := r.coveredDirs()
		dirs := map[string]bool{}
		for _, f := range clean {
			if !isTerraformFile(f) || r.ignored(f) {
				continue
			}
			d := path.Dir(f)
			if !c.isDir(d) {
				continue
			}
			for !g.tfDirs[d] && d != "." {
				d = path.Dir(d)
			}
			if g.tfDirs[d] && !g.isModule(d) {
				dirs[d] = true
			}
		}
		for m := range changedModules {
			for _, root := range g.rootsUsing(m) {
				dirs[root] = true
			}
		}
		for d := range dirs {
			if covered[d] || r.ignored(d) {
				continue
			}
			out = append(out, r.adHoc(d, ""))
		}
	}
	r.fillVersions(c, out)
	sortProjects(out)
	return out, nil
}

// AllProjects returns every project of the repo: the configured ones whose
// directory exists and, as autodiscover allows, every root Terraform directory no
// configured project covers. Used for a plan with no -d or -p.
func (r *Resolved) AllProjects(repoRoot string) ([]Project, error) {
	c := openCheckout(repoRoot)
	defer c.close()
	return r.allProjects(c)
}

func (r *Resolved) allProjects(c *checkout) ([]Project, error) {
	var out []Project
	for _, p := range r.ConfiguredProjects {
		if c.isDir(p.Dir) {
			out = append(out, p.clone())
		}
	}
	if r.discovering() {
		g, err := scanRepo(c)
		if err != nil {
			return nil, err
		}
		covered := r.coveredDirs()
		for d := range g.tfDirs {
			if g.isModule(d) || covered[d] || r.ignored(d) {
				continue
			}
			out = append(out, r.adHoc(d, ""))
		}
	}
	r.fillVersions(c, out)
	sortProjects(out)
	return out, nil
}

// coveredDirs are the directories of configured projects, which discovery skips.
func (r *Resolved) coveredDirs() map[string]bool {
	out := map[string]bool{}
	for _, p := range r.ConfiguredProjects {
		out[p.Dir] = true
	}
	return out
}

// adHoc returns a project for dir with the server's defaults.
func (r *Resolved) adHoc(dir, workspace string) Project {
	p := r.Defaults.clone()
	p.Dir = dir
	if workspace != "" {
		p.Workspace = workspace
	}
	if p.Workspace == "" {
		p.Workspace = "default"
	}
	if p.Workflow.Name == "" {
		p.Workflow = DefaultWorkflow()
	}
	return p
}

// fillVersions sets TerraformVersion from required_version when the project
// sets none: its exact version ("= 1.5.7" gives "1.5.7"), or its constraints
// (">= 1.5, < 1.7"), which the runner resolves to the newest release that
// satisfies them. Files that do not parse leave it empty; terraform itself
// reports them.
func (r *Resolved) fillVersions(c *checkout, ps []Project) {
	for i := range ps {
		if ps[i].TerraformVersion != "" {
			continue
		}
		if v, _ := requiredVersionSpec(c, ps[i].Dir); v != "" {
			ps[i].TerraformVersion = v
		}
	}
}

func sortProjects(ps []Project) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.ExecutionOrderGroup != b.ExecutionOrderGroup {
			return a.ExecutionOrderGroup < b.ExecutionOrderGroup
		}
		if a.Dir != b.Dir {
			return a.Dir < b.Dir
		}
		if a.Workspace != b.Workspace {
			return a.Workspace < b.Workspace
		}
		return a.Name < b.Name
	})
}

// Select picks the projects a comment such as `atoll plan -d dir -w ws` or
// `atoll apply -p name` targets. candidates are the projects to choose from (for
// example the ones planned on the PR); nil means the repo's configured projects,
// plus an ad hoc project with the server's defaults for a -d that no configured
// project has. With neither dir nor name, all candidates are returned (or
// AllProjects when candidates is nil). workspace "" means "default".
func (r *Resolved) Select(repoRoot string, candidates []Project, dir, workspace, name string) ([]Project, error) {
	if name != "" && (dir != "" || workspace != "") {
		return nil, fmt.Errorf("use -p on its own, or -d and -w, not both")
	}
	c := openCheckout(repoRoot)
	defer c.close()
	pool := candidates
	if pool == nil {
		pool = r.ConfiguredProjects
	}
	var out []Project
	switch {
	case name != "":
		var known []string
		for _, p := range pool {
			if p.Name == name {
				out = append(out, p.clone())
			}
			if p.Name != "" && !contains(known, p.Name) {
				known = append(known, p.Name)
			}
		}
		if len(out) == 0 {
			sort.Strings(known)
			if len(known) == 0 {
				return nil, fmt.Errorf("no project is named %q: no project has a name here", name)
			}
			return nil, fmt.Errorf("no project is named %q; projects: %s", name, strings.Join(known, ", "))
		}
	case dir != "":
		clean, msg := cleanDir(strings.TrimSuffix(dir, "/"))
		if msg != "" {
			return nil, fmt.Errorf("-d %s", msg)
		}
		ws := workspace
		if ws == "" {
			ws = "default"
		}
		var wss []string
		for _, p := range pool {
			if p.Dir != clean {
				continue
			}
			wss = append(wss, p.Workspace)
			if p.Workspace == ws {
				out = append(out, p.clone())
			}
		}
		if len(out) > 0 {
			break
		}
		if len(wss) > 0 {
			sort.Strings(wss)
			return nil, fmt.Errorf("directory `%s` is configured only for workspace `%s`, not `%s`", clean, strings.Join(slices.Compact(wss), ", "), ws)
		}
		if candidates != nil {
			return nil, fmt.Errorf("no project in directory `%s` (workspace `%s`) here", clean, ws)
		}
		if !c.isDir(clean) {
			return nil, fmt.Errorf("directory `%s` does not exist in the repository", clean)
		}
		out = append(out, r.adHoc(clean, ws))
	default:
		if candidates == nil {
			all, err := r.allProjects(c)
			if err != nil {
				return nil, err
			}
			candidates = all
		}
		for _, p := range candidates {
			out = append(out, p.clone())
		}
		if workspace != "" {
			out = slices.DeleteFunc(out, func(p Project) bool { return p.Workspace != workspace })
		}
	}
	r.fillVersions(c, out)
	sortProjects(out)
	return out, nil
}
