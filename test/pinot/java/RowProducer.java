// The suite's Kafka producer, run as a single-file Java program against the kafka-clients jar Pinot ships:
//   java -cp <kafka-clients and its compressors> RowProducer.java <bootstrap> <topic> <partitions> <count> <firstId> <payloadChars>
// Creates the topic if missing (replication 1), then sends <count> JSON rows {id, name, value, ts, payload},
// row i to partition i % partitions, and waits until every row is acknowledged.
import java.util.List;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class RowProducer {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String topic = args[1];
    int partitions = Integer.parseInt(args[2]);
    int count = Integer.parseInt(args[3]);
    int firstId = Integer.parseInt(args[4]);
    int payloadChars = Integer.parseInt(args[5]);
    Properties props = new Properties();
    props.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(props)) {
      if (!admin.listTopics().names().get().contains(topic)) {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
      }
    }
    props.put("key.serializer", StringSerializer.class.getName());
    props.put("value.serializer", StringSerializer.class.getName());
    props.put("acks", "all");
    props.put("max.request.size", "4194304");
    Random random = new Random(firstId);
    long now = System.currentTimeMillis();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
      for (int id = firstId; id < firstId + count; id++) {
        StringBuilder payload = new StringBuilder(payloadChars);
        for (int c = 0; c < payloadChars; c++) payload.append(Character.forDigit(random.nextInt(16), 16));
        String json = String.format("{\"id\":%d,\"name\":\"n%d\",\"value\":%d,\"ts\":%d,\"payload\":\"%s\"}", id, id % 7, id * 10L, now + id, payload);
        producer.send(new ProducerRecord<>(topic, id % partitions, Integer.toString(id), json));
      }
      producer.flush();
    }
    System.out.println("sent " + count + " rows to " + topic);
  }
}
