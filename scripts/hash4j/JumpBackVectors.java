// SPDX-License-Identifier: Apache-2.0
// Test-vector driver for fastroute (our own code): calls hash4j's public
// consistent-hashing API and prints JSON. Compiled against a hash4j source
// checkout by scripts/make_jumpback_vectors.sh; hash4j itself is not part of
// fastroute. See docs/algorithms.md §23.
import com.dynatrace.hash4j.consistent.ConsistentBucketHasher;
import com.dynatrace.hash4j.consistent.ConsistentBucketSetHasher;
import com.dynatrace.hash4j.consistent.ConsistentHashing;
import com.dynatrace.hash4j.random.PseudoRandomGeneratorProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

public final class JumpBackVectors {

  private static String u64(long v) {
    return Long.toUnsignedString(v);
  }

  private static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) sb.append(String.format("%02x", x & 0xff));
    return sb.toString();
  }

  /** Fixed edge hashes, then a SplitMix64 stream (recorded explicitly in the JSON). */
  private static long[] hashes(int count, long seed) {
    long[] edge = {0L, 1L, 2L, 3L, -1L, Long.MIN_VALUE, Long.MAX_VALUE, 0x9e3779b97f4a7c15L,
                   -0x9e3779b97f4a7c15L, 0xFFFFFFFFL, 0x100000000L};
    long[] out = new long[count];
    SplittableRandom rng = new SplittableRandom(seed);
    for (int i = 0; i < count; i++) out[i] = i < edge.length ? edge[i] : rng.nextLong();
    return out;
  }

  private static String longList(long[] v) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ",").append(u64(v[i]));
    return sb.append("]").toString();
  }

  private static String intList(int[] v) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < v.length; i++) sb.append(i == 0 ? "" : ",").append(v[i]);
    return sb.append("]").toString();
  }

  static void jumpBack(StringBuilder out) {
    ConsistentBucketHasher generic = ConsistentHashing.jumpBackHash(PseudoRandomGeneratorProvider.splitMix64_V1());
    ConsistentBucketHasher fast = ConsistentHashing.jumpBackHashSplitMix64();
    int[] counts = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 17, 31, 32, 33, 100, 127, 128, 129, 1000,
                    4095, 4096, 4097, 65535, 65536, 65537, 1000000, 1 << 20, (1 << 20) + 1, 1 << 30,
                    (1 << 30) + 1, Integer.MAX_VALUE - 1, Integer.MAX_VALUE};
    long[] hs = hashes(256, 2403_18682L);
    out.append("\"hashes\":").append(longList(hs)).append(",\n\"cases\":[\n");
    for (int c = 0; c < counts.length; c++) {
      int n = counts[c];
      int[] got = new int[hs.length];
      for (int i = 0; i < hs.length; i++) {
        got[i] = generic.getBucket(hs[i], n);
        if (fast.getBucket(hs[i], n) != got[i]) throw new AssertionError("SplitMix64 variants disagree");
      }
      out.append(c == 0 ? "" : ",\n").append("{\"buckets\":").append(n).append(",\"expected\":")
          .append(intList(got)).append("}");
    }
    out.append("]");
  }

  /** One removal scenario: ops applied to a fresh hasher, then state and lookups recorded. */
  static void scenario(StringBuilder out, String name, List<int[]> ops, long[] hs) {
    ConsistentBucketSetHasher h = ConsistentHashing.jumpBackAnchorHash(PseudoRandomGeneratorProvider.splitMix64_V1());
    StringBuilder opText = new StringBuilder("[");
    for (int i = 0; i < ops.size(); i++) {
      int[] op = ops.get(i);
      opText.append(i == 0 ? "" : ",");
      if (op[0] == 0) {
        int b = h.addBucket();
        opText.append("[\"add\",").append(b).append("]");
      } else {
        if (!h.removeBucket(op[1])) throw new AssertionError("remove refused " + op[1]);
        opText.append("[\"remove\",").append(op[1]).append("]");
      }
    }
    opText.append("]");
    int[] got = new int[hs.length];
    for (int i = 0; i < hs.length; i++) got[i] = h.getBucket(hs[i]);
    byte[] state = h.getState();
    ConsistentBucketSetHasher copy = ConsistentHashing.jumpBackAnchorHash(PseudoRandomGeneratorProvider.splitMix64_V1());
    copy.setState(state);
    for (int i = 0; i < hs.length; i++) {
      if (copy.getBucket(hs[i]) != got[i]) throw new AssertionError("setState copy disagrees");
    }
    out.append("{\"name\":\"").append(name).append("\",\"ops\":").append(opText)
        .append(",\"state\":\"").append(hex(state)).append("\",\"buckets\":").append(intList(h.getBuckets()))
        .append(",\"expected\":").append(intList(got)).append("}");
  }

  static List<int[]> adds(int n) {
    List<int[]> ops = new ArrayList<>();
    for (int i = 0; i < n; i++) ops.add(new int[] {0});
    return ops;
  }

  static void anchor(StringBuilder out) {
    long[] hs = hashes(512, 1812_09674L);
    out.append("\"hashes\":").append(longList(hs)).append(",\n\"scenarios\":[\n");
    List<String> parts = new ArrayList<>();
    List<int[]> ops;

    ops = adds(10);
    StringBuilder sb = new StringBuilder(); scenario(sb, "ten buckets, nothing removed", ops, hs); parts.add(sb.toString());

    ops = adds(10); ops.add(new int[] {1, 3});
    sb = new StringBuilder(); scenario(sb, "remove 3 of 10", ops, hs); parts.add(sb.toString());

    ops = adds(10); ops.add(new int[] {1, 9});
    sb = new StringBuilder(); scenario(sb, "remove the last of 10 (shrinks)", ops, hs); parts.add(sb.toString());

    ops = adds(10); ops.add(new int[] {1, 3}); ops.add(new int[] {1, 7}); ops.add(new int[] {1, 0});
    sb = new StringBuilder(); scenario(sb, "remove 3, 7, 0 of 10", ops, hs); parts.add(sb.toString());

    ops = adds(10); ops.add(new int[] {1, 3}); ops.add(new int[] {1, 7}); ops.add(new int[] {0});
    sb = new StringBuilder(); scenario(sb, "remove 3, 7 then add (7 returns)", ops, hs); parts.add(sb.toString());

    ops = adds(10); ops.add(new int[] {1, 3}); ops.add(new int[] {1, 7}); ops.add(new int[] {0}); ops.add(new int[] {0});
    ops.add(new int[] {0});
    sb = new StringBuilder(); scenario(sb, "remove 3, 7 then add three", ops, hs); parts.add(sb.toString());

    ops = adds(5); ops.add(new int[] {1, 2}); ops.add(new int[] {1, 4});
    sb = new StringBuilder(); scenario(sb, "remove 2 then the last of 5", ops, hs); parts.add(sb.toString());

    ops = adds(8); for (int b = 0; b < 7; b++) ops.add(new int[] {1, b});
    sb = new StringBuilder(); scenario(sb, "remove all but the last of 8", ops, hs); parts.add(sb.toString());

    ops = adds(8); ops.add(new int[] {1, 0}); for (int b = 7; b >= 2; b--) ops.add(new int[] {1, b});
    sb = new StringBuilder(); scenario(sb, "worst order 0, 7, 6 .. 2 of 8", ops, hs); parts.add(sb.toString());

    // Random histories (a fixed SplittableRandom seed; the ops are recorded explicitly).
    SplittableRandom rng = new SplittableRandom(20240327L);
    for (int s = 0; s < 12; s++) {
      int n = 2 + rng.nextInt(s < 6 ? 40 : 600);
      ops = adds(n);
      List<Integer> live = new ArrayList<>();
      for (int b = 0; b < n; b++) live.add(b);
      int steps = rng.nextInt(Math.max(2, n));
      for (int t = 0; t < steps; t++) {
        if (live.size() > 1 && rng.nextInt(4) != 0) {
          ops.add(new int[] {1, live.remove(rng.nextInt(live.size()))});
        } else {
          ops.add(new int[] {0});
          // the id is only known when applied; mirror hash4j's rule with a throwaway instance
          ConsistentBucketSetHasher probe = ConsistentHashing.jumpBackAnchorHash(PseudoRandomGeneratorProvider.splitMix64_V1());
          for (int[] op : ops.subList(0, ops.size() - 1)) {
            if (op[0] == 0) probe.addBucket(); else probe.removeBucket(op[1]);
          }
          live.add(probe.addBucket());
        }
      }
      sb = new StringBuilder(); scenario(sb, "random history " + s + " (" + n + " buckets)", ops, hs); parts.add(sb.toString());
    }
    out.append(String.join(",\n", parts)).append("]");
  }

  public static void main(String[] args) {
    StringBuilder out = new StringBuilder();
    if (args.length == 1 && args[0].equals("jumpback")) {
      jumpBack(out);
    } else if (args.length == 1 && args[0].equals("anchor")) {
      anchor(out);
    } else {
      throw new IllegalArgumentException("usage: JumpBackVectors jumpback|anchor");
    }
    System.out.println(out);
  }
}
