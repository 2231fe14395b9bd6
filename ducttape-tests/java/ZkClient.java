// A ZooKeeper client for the ensemble-bounce scenario: creates and reads back a sequential
// znode every 20 ms for the given number of seconds and prints one line per operation:
//   start <epoch ms>   |   ok <epoch ms> <path>   |   error <epoch ms> <exception>
//   done <epoch ms> ok=<n> failed=<n>
// Run as a single-file program: java -cp '/opt/kafka/libs/*' ZkClient.java <connect> <seconds>
// With `list` instead of <seconds> it prints `child /ducttape/<name>` for every znode there.
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class ZkClient {
    public static void main(String[] args) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
        });
        if (!connected.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("no connection to " + args[0]);
        if (args[1].equals("list")) {
            for (String child : zk.getChildren("/ducttape", false)) System.out.println("child /ducttape/" + child);
            zk.close();
            return;
        }
        try {
            zk.create("/ducttape", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException e) {
            // a previous run made it
        }
        long end = System.currentTimeMillis() + Long.parseLong(args[1]) * 1000;
        System.out.println("start " + System.currentTimeMillis());
        long ok = 0, failed = 0;
        for (long i = 0; System.currentTimeMillis() < end; i++) {
            try {
                String value = Long.toString(i);
                String path = zk.create("/ducttape/n-", value.getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                        CreateMode.PERSISTENT_SEQUENTIAL);
                String read = new String(zk.getData(path, false, null));
                if (!read.equals(value)) throw new IllegalStateException("read back " + read + " for " + value);
                System.out.println("ok " + System.currentTimeMillis() + " " + path);
                ok++;
            } catch (Exception e) {
                System.out.println("error " + System.currentTimeMillis() + " " + e);
                failed++;
                Thread.sleep(100);
            }
            Thread.sleep(20);
        }
        System.out.println("done " + System.currentTimeMillis() + " ok=" + ok + " failed=" + failed);
        zk.close();
    }
}
