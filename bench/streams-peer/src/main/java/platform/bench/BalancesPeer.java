package platform.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Balances per customer from billing transactions, exactly once: what a platform engineer would
 * write instead of the billing service's consumer. Same rules as billing's ledger for the events
 * the bench sends: a fact counts once per natural key (entry type + the producer's id), a void or
 * a reversal takes the amount of what it corrects, and the totals are billing's.
 *
 * <p>Usage: BalancesPeer BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC APPLICATION_ID STATE_DIR THREADS
 *
 * <p>Each input record forwards the customer's new totals to OUTPUT_TOPIC as
 * "current,invoiced,paid,refunded,credits,adjustments,entries,input_timestamp_ms".
 */
public final class BalancesPeer {
  private BalancesPeer() {}

  public static void main(String[] args) throws InterruptedException {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[3]);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(args[5]));
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1); // the local broker is a single node
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore("facts"), Serdes.String(), Serdes.Long()));
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore("balances"), Serdes.String(), Serdes.String()));
    builder.stream(args[1], Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(Balances::new, "facts", "balances")
        .to(args[2], Produced.with(Serdes.String(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  streams.close();
                  stopped.countDown();
                }));
    streams.start();
    System.out.println("started");
    System.out.flush();
    stopped.await();
  }

  static final class Balances implements Processor<String, byte[], String, String> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private ProcessorContext<String, String> context;
    private KeyValueStore<String, Long> facts; // tenant \n natural key -> signed amount
    private KeyValueStore<String, String> balances; // tenant \n customer -> totals

    @Override
    public void init(ProcessorContext<String, String> context) {
      this.context = context;
      this.facts = context.getStateStore("facts");
      this.balances = context.getStateStore("balances");
    }

    @Override
    public void process(Record<String, byte[]> record) {
      JsonNode event;
      try {
        event = JSON.readTree(record.value());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      String tenant = event.get("tenant_id").asText();
      JsonNode data = event.get("data");
      String kind;
      String reference;
      String corrects = null; // the natural key whose amount a correction takes, negated
      long amount = 0;
      switch (event.get("type").asText()) {
        case "billing.invoice-issued.v1" -> {
          kind = "invoice";
          reference = data.get("invoice_id").asText();
          amount = minor(data);
        }
        case "billing.invoice-voided.v1" -> {
          kind = "invoice_void";
          reference = data.get("invoice_id").asText();
          corrects = "invoice:" + reference;
        }
        case "billing.payment-received.v1" -> {
          kind = "payment";
          reference = data.get("payment_id").asText();
          amount = -minor(data);
        }
        case "billing.payment-reversed.v1" -> {
          kind = "payment_reversal";
          reference = data.get("payment_id").asText();
          corrects = "payment:" + reference;
        }
        case "billing.refund-issued.v1" -> {
          kind = "refund";
          reference = data.get("refund_id").asText();
          amount = minor(data);
        }
        case "billing.credit-applied.v1" -> {
          kind = "credit";
          reference = data.get("credit_id").asText();
          amount = -minor(data);
        }
        case "billing.adjustment-posted.v1" -> {
          kind = "adjustment";
          reference = data.get("adjustment_id").asText();
          amount = minor(data);
        }
        default -> {
          return; // not a transaction this job counts
        }
      }
      String factKey = tenant + "\n" + kind + ":" + reference;
      if (facts.get(factKey) != null) {
        return; // the same fact again (re-sent, or under a new id): counted once
      }
      if (corrects != null) {
        Long original = facts.get(tenant + "\n" + corrects);
        if (original == null) {
          return; // the bench never corrects what it did not send first
        }
        amount = -original;
      }
      facts.put(factKey, amount);
      String customer = data.get("customer_id").asText();
      String balanceKey = tenant + "\n" + customer;
      long[] t = parse(balances.get(balanceKey));
      t[0] += amount;
      switch (kind) {
        case "invoice", "invoice_void" -> t[1] += amount;
        case "payment", "payment_reversal" -> t[2] -= amount; // payments are stored negative
        case "refund" -> t[3] += amount;
        case "credit" -> t[4] -= amount;
        default -> t[5] += amount;
      }
      t[6] += 1;
      String totals = t[0] + "," + t[1] + "," + t[2] + "," + t[3] + "," + t[4] + "," + t[5] + "," + t[6];
      balances.put(balanceKey, totals);
      context.forward(new Record<>(customer, totals + "," + record.timestamp(), record.timestamp()));
    }

    private static long minor(JsonNode data) {
      return data.get("amount").get("amount_minor").asLong();
    }

    private static long[] parse(String totals) {
      long[] t = new long[7];
      if (totals != null) {
        String[] parts = totals.split(",");
        for (int i = 0; i < 7; i++) {
          t[i] = Long.parseLong(parts[i]);
        }
      }
      return t;
    }
  }
}
