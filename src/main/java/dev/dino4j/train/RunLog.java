package dev.dino4j.train;

import java.nio.file.Path;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.FileAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.layout.PatternLayout;

/**
 * Adds a file log in the run directory to the console log configured by log4j2.xml (the run
 * directory is only known once the config is read, so it cannot be in the XML).
 */
public final class RunLog implements AutoCloseable {

  private final Appender appender;

  private RunLog(Appender appender) {
    this.appender = appender;
  }

  /** Logs to {@code runDir/train.log}. */
  public static RunLog attach(Path runDir) {
    return attach(runDir, "train.log");
  }

  /** Logs to {@code runDir/fileName} (the other workers of a cluster: one file each). */
  public static RunLog attach(Path runDir, String fileName) {
    LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
    Configuration conf = ctx.getConfiguration();
    PatternLayout layout =
        PatternLayout.newBuilder().withConfiguration(conf).withPattern("%d{ISO8601} %-5level %c{1} - %msg%n").build();
    FileAppender app =
        FileAppender.newBuilder().setName("run-" + runDir.resolve(fileName).toAbsolutePath()).withFileName(runDir.resolve(fileName).toString())
            .withAppend(true).setLayout(layout).setConfiguration(conf).build();
    app.start();
    conf.getRootLogger().addAppender(app, Level.INFO, null);
    ctx.updateLoggers();
    return new RunLog(app);
  }

  @Override
  public void close() {
    LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
    ctx.getConfiguration().getRootLogger().removeAppender(appender.getName());
    ctx.updateLoggers();
    appender.stop();
  }
}
