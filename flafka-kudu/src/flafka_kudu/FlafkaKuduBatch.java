// Compiled once per machine by flafka_kudu.java_helper (when a JDK is present) into the
// cache; never committed as a .class. Builds and applies a whole batch of Kudu operations
// from a few column arrays, so Python crosses into Java a few times per batch instead of
// once per cell.

import java.util.IdentityHashMap;
import java.util.List;

import org.apache.kudu.client.KuduException;
import org.apache.kudu.client.KuduSession;
import org.apache.kudu.client.KuduTable;
import org.apache.kudu.client.Operation;
import org.apache.kudu.client.PartialRow;
import org.apache.kudu.client.RowError;

public final class FlafkaKuduBatch {
  private FlafkaKuduBatch() {}

  /**
   * kinds[i]: 0 insert, 1 upsert, -1 skip. For column c: cols[c] is the Kudu column index,
   * types[c] the setter (0 bool, 1 int8, 2 int16, 3 int32, 4 int64/micros, 5 float,
   * 6 double, 7 string, 8 varchar, 9 binary), data[c] a long[], double[], String[] or
   * byte[][]. state[i * m + c]: 0 unset, 1 value, 2 null. ops receives the operations
   * applied; the result has one "index:error" entry per op that could not be built or
   * applied (empty when every op was applied).
   */
  public static String[] apply(KuduTable table, KuduSession session, byte[] kinds, int[] cols, int[] types,
                               Object[] data, byte[] state, Operation[] ops) {
    int n = kinds.length;
    int m = cols.length;
    java.util.ArrayList<String> errors = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      if (kinds[i] < 0) {
        continue;
      }
      Operation op = kinds[i] == 0 ? table.newInsert() : table.newUpsert();
      PartialRow row = op.getRow();
      try {
        for (int c = 0; c < m; c++) {
          byte s = state[i * m + c];
          if (s == 0) {
            continue;
          }
          int idx = cols[c];
          if (s == 2) {
            row.setNull(idx);
            continue;
          }
          switch (types[c]) {
            case 0: row.addBoolean(idx, ((long[]) data[c])[i] != 0); break;
            case 1: row.addByte(idx, (byte) ((long[]) data[c])[i]); break;
            case 2: row.addShort(idx, (short) ((long[]) data[c])[i]); break;
            case 3: row.addInt(idx, (int) ((long[]) data[c])[i]); break;
            case 4: row.addLong(idx, ((long[]) data[c])[i]); break;
            case 5: row.addFloat(idx, (float) ((double[]) data[c])[i]); break;
            case 6: row.addDouble(idx, ((double[]) data[c])[i]); break;
            case 7: row.addString(idx, ((String[]) data[c])[i]); break;
            case 8: row.addVarchar(idx, ((String[]) data[c])[i]); break;
            case 9: row.addBinary(idx, ((byte[][]) data[c])[i]); break;
            default: throw new IllegalArgumentException("unknown setter " + types[c]);
          }
        }
        session.apply(op);
        ops[i] = op;
      } catch (KuduException | RuntimeException e) {
        errors.add(i + ":" + e.toString());
      }
    }
    return errors.toArray(new String[0]);
  }

  /** For each row error, the index of its operation in ops (-1 when not found). */
  public static int[] indexOf(Operation[] ops, List<RowError> errors) {
    IdentityHashMap<Operation, Integer> where = new IdentityHashMap<>();
    for (int i = 0; i < ops.length; i++) {
      if (ops[i] != null) {
        where.put(ops[i], i);
      }
    }
    int[] out = new int[errors.size()];
    for (int e = 0; e < out.length; e++) {
      Integer i = where.get(errors.get(e).getOperation());
      out[e] = i == null ? -1 : i;
    }
    return out;
  }
}
