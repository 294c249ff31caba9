package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// automerge merges the PR once every plan with changes is applied, when the
// repo config sets automerge (Atlantis semantics). The merge names the head
// commit that was applied, so a later push is never merged unreviewed.
func (r *prRun) automerge(ctx context.Context) {
	s := r.s
	if !r.resolved.Automerge || s.cfg.Merger == nil {
		return
	}
	plans, err := s.cfg.Store.Plans(ctx, r.w.Repo.ID(), r.pull.Num)
	if err != nil {
		r.log.Error("list plans for automerge", "error", err)
		return
	}
	for _, pl := range plans {
		if (pl.HasChanges || pl.Failed) && !pl.Applied {
			r.log.Info("automerge waits: a plan is not applied yet", "dir", pl.Key.Dir, "workspace", pl.Key.Workspace)
			return
		}
	}
	deleteBranch := r.resolved.DeleteSourceBranchOnMerge
	r.logf("automerge: every plan is applied; merging #%d\n", r.pull.Num)
	err = s.cfg.Merger.MergePull(ctx, r.w.Repo, r.pull, cmp.Or(s.cfg.AutomergeMethod, "merge"), deleteBranch)
	switch {
	case errors.Is(err, vcs.ErrNotMergeable):
		r.comment(ctx, fmt.Sprintf("Every plan is applied, but Atoll could not automerge this pull request: %s. Merge it by hand once GitHub allows it.", safeVCSMessage(err)))
	case err != nil:
		r.log.Error("automerge", "error", err)
		r.comment(ctx, "Every plan is applied, but Atoll could not automerge this pull request (job `"+r.w.ID+"`). Merge it by hand.")
	default:
		r.log.Info("automerged pull request", "delete_branch", deleteBranch)
		msg := "Every plan is applied, so Atoll merged this pull request (automerge)."
		if deleteBranch {
			msg += " The branch `" + r.pull.HeadBranch + "` was deleted."
		}
		r.comment(ctx, msg)
	}
}

// safeVCSMessage is GitHub's own reason for refusing a merge (after
// ErrNotMergeable's text), which is safe to show.
func safeVCSMessage(err error) string {
	if _, msg, ok := strings.Cut(err.Error(), vcs.ErrNotMergeable.Error()+": "); ok {
		return msg
	}
	return "GitHub refused the merge"
}
