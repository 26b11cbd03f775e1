package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
	"webcallback/internal/cluster"
	"webcallback/internal/store/storetest"
)

// TestFenceWithoutLapse: another instance adopts a call while its owner's
// clock saw no lapse of the lease (the owner was paused between reading
// the clock and its renewal's write, so the write landed late with a stale
// expiry: TestFailoverPaused hit this). The owner's next sweep still finds
// the call adopted and lets it go: it leaves the live calls and the
// owner writes nothing more to its row. The adoption is the store's own
// ClaimOrphans, run as a second instance whose clock is a minute ahead
// (it takes the owner's fresh lease for expired).
func TestFenceWithoutLapse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := storetest.Open(t, dsn)
		// A call that stays up (1380000…) with no talk limit in sight.
		inst := startInstances(t, 1, dsn, startPBX(t, 0.1), "--call-limit", "1h", "--call-warning", "0s")[0]
		r := create(t, inst.URL, "13800001001", "13800002001")
		waitState(t, inst.URL, r.ID, callback.StateConnected)
		// The API may tell the state before its write lands (the writer
		// is behind the engine): the row is read once it has it.
		var stored *callback.Request
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if stored, err = st.GetRequest(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
			if stored.State == callback.StateConnected {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the row of %s still says %s", r.ID, stored.State)
			}
		}
		if !following(inst, r.ID) {
			t.Fatalf("%s is not among the live calls of its owner", r.ID)
		}

		adopter := "other-" + stored.Instance
		claimed, err := st.ClaimOrphans(ctx, adopter, stored.Node, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) != 1 || claimed[0].ID != r.ID {
			t.Fatalf("claimed %d requests, want %s alone", len(claimed), r.ID)
		}
		// Let go within a sweep or two (cluster.LeaseRenew); the bound
		// below only ends a failing test.
		for deadline := time.Now().Add(10 * cluster.LeaseRenew); following(inst, r.ID); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the owner still follows %s %v after another instance adopted it", r.ID, 10*cluster.LeaseRenew)
			}
		}
		after, err := st.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Instance != adopter || after.State != callback.StateConnected || len(after.History) != len(stored.History) {
			t.Errorf("after letting go: owner %q state %s, %d transitions; want %q, connected, %d (untouched)",
				after.Instance, after.State, len(after.History), adopter, len(stored.History))
		}

		// The adopter finishes the call, as its engine would, so that the
		// shared database holds no call in progress after the test.
		now := time.Now()
		after.State, after.Reason, after.EndedAt = callback.StateCompleted, callback.ReasonCallerHangup, &now
		if err := st.UpdateRequest(ctx, after); err != nil {
			t.Fatal(err)
		}
		if err := st.ReleaseCapacity(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// following reports whether the instance's engines follow call id (its
// live calls, as the admin's live view shows them).
func following(inst *apptest.Service, id string) bool {
	return slices.ContainsFunc(inst.Nodes.Live(), func(r *callback.Request) bool { return r.ID == id })
}
