package dev.dino4j.config;

import static dev.dino4j.config.ConfigLoaderTest.assertContains;
import static dev.dino4j.config.ConfigLoaderTest.fails;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Impossible values: each message names the key, the value and what is allowed. */
class ConfigValidatorTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          optim.lr=-0.1                        | optim.lr = -0.1                         | must be a finite number >= 0.0
          optim.min_lr=-1                      | optim.min_lr = -1.0                     | >= 0.0
          train.epochs=0                       | train.epochs = 0                        | must be >= 1
          train.batch_size=0                   | train.batch_size = 0                    | must be >= 1
          augment.flip_p=1.5                   | augment.flip_p = 1.5                    | probability in [0, 1]
          augment.color_jitter_p=-0.1          | augment.color_jitter_p = -0.1           | probability in [0, 1]
          augment.grayscale_p=2                | augment.grayscale_p = 2.0               | probability in [0, 1]
          augment.blur_p_global1=1.1           | augment.blur_p_global1 = 1.1            | probability in [0, 1]
          augment.blur_p_global2=1.1           | augment.blur_p_global2 = 1.1            | probability in [0, 1]
          augment.blur_p_local=1.1             | augment.blur_p_local = 1.1              | probability in [0, 1]
          augment.solarize_p=-0.1              | augment.solarize_p = -0.1               | probability in [0, 1]
          augment.global_scale=[0.0, 1.0]      | augment.global_scale = [0.0, 1.0]       | 0 < min <= max <= 1
          augment.local_scale=[0.5, 0.4]       | augment.local_scale = [0.5, 0.4]        | 0 < min <= max <= 1
          augment.global_scale=[0.4, 1.2]      | augment.global_scale = [0.4, 1.2]       | 0 < min <= max <= 1
          augment.local_size=256               | augment.local_size = 256                | must be <= augment.global_size = 224
          augment.local_size=100               | augment.local_size = 100                | must be a multiple of model.patch_size = 16
          model.patch_size=15                  | augment.global_size = 224               | must be a multiple of model.patch_size = 15
          model.patch_size=0                   | model.patch_size = 0                    | must be >= 1
          model.heads=5                        | model.embed_dim = 384                   | must be a multiple of model.heads = 5
          model.arch=huge                      | model.arch = "huge"                     | must be one of tiny, small, base, custom
          model.drop_path_rate=1               | model.drop_path_rate = 1.0              | must be in [0, 1)
          augment.hue=0.6                      | augment.hue = 0.6                       | must be in [0.0, 0.5]
          augment.brightness=-1                | augment.brightness = -1.0               | >= 0.0
          augment.blur_sigma_min=0             | augment.blur_sigma_min = 0.0            | > 0
          augment.blur_sigma_max=0.05          | augment.blur_sigma_max = 0.05           | >= augment.blur_sigma_min = 0.1
          augment.local_crops=-1               | augment.local_crops = -1                | must be >= 0
          loss.teacher_temp=0                  | loss.teacher_temp = 0.0                 | must be a finite number > 0
          loss.student_temp=-0.1               | loss.student_temp = -0.1                | > 0
          loss.warmup_teacher_temp=0           | loss.warmup_teacher_temp = 0.0          | > 0
          loss.warmup_teacher_temp_epochs=101  | loss.warmup_teacher_temp_epochs = 101   | must be in [0, train.epochs = 100]
          loss.warmup_teacher_temp_epochs=-1   | loss.warmup_teacher_temp_epochs = -1    | must be in [0, train.epochs = 100]
          loss.center_momentum=1.1             | loss.center_momentum = 1.1              | must be in [0.0, 1.0]
          optim.momentum_teacher=1.5           | optim.momentum_teacher = 1.5            | must be in [0.0, 1.0]
          optim.warmup_epochs=101              | optim.warmup_epochs = 101               | must be in [0, train.epochs = 100]
          optim.warmup_epochs=-1               | optim.warmup_epochs = -1                | must be in [0, train.epochs = 100]
          optim.weight_decay=-0.1              | optim.weight_decay = -0.1               | >= 0.0
          optim.weight_decay_end=-1            | optim.weight_decay_end = -1.0           | >= 0.0
          optim.clip_grad=-1                   | optim.clip_grad = -1.0                  | >= 0.0
          optim.freeze_last_layer=-1           | optim.freeze_last_layer = -1            | must be >= 0
          optim.beta1=1                        | optim.beta1 = 1.0                       | must be in [0, 1)
          optim.beta2=-0.5                     | optim.beta2 = -0.5                      | must be in [0, 1)
          optim.eps=0                          | optim.eps = 0.0                         | > 0
          head.layers=0                        | head.layers = 0                         | must be >= 1
          head.out_dim=0                       | head.out_dim = 0                        | must be >= 1
          head.hidden_dim=-3                   | head.hidden_dim = -3                    | must be >= 1
          head.bottleneck_dim=0                | head.bottleneck_dim = 0                 | must be >= 1
          data.workers=0                       | data.workers = 0                        | must be >= 1
          data.prefetch=0                      | data.prefetch = 0                       | must be >= 1
          data.std=[0.5, 0, 0.5]               | data.std = [0.5, 0.0, 0.5]              | > 0
          data.source=imagenet                 | data.source = "imagenet"                | must be one of fashion-mnist, idx, folder
          data.source=fashion_mnist            | data.source = "fashion_mnist"           | did you mean "fashion-mnist"?
          data.source=folder                   | data.path = ""                          | needs data.path (the image folder)
          data.source=list                     | data.path = ""                          | (the list file of image paths)
          data.labels=classes                  | data.labels = "classes"                 | must be one of auto, folders, none
          data.bad_files=ignore                | data.bad_files = "ignore"               | must be one of skip, fail
          data.max_pixels=0                    | data.max_pixels = 0                     | must be >= 1
          data.split=val                       | data.split = "val"                      | must be one of train, test
          train.precision=fp16                 | train.precision = "fp16"                | must be one of fp32, bf16
          train.precision=bf61                 | train.precision = "bf61"                | did you mean "bf16"?
          train.log_every=0                    | train.log_every = 0                     | must be >= 1
          train.save_every=-1                  | train.save_every = -1                   | must be >= 0
          train.checkpoint_every_steps=-1      | train.checkpoint_every_steps = -1       | must be >= 0
          train.checkpoint_every_minutes=-0.5  | train.checkpoint_every_minutes = -0.5   | must be a finite number >= 0 (0 = off)
          train.threads=-1                     | train.threads = -1                      | must be >= 0
          train.towers=-1                      | train.towers = -1                       | must be >= 0
          train.towers=5                       | train.towers = 5                        | must divide train.batch_size (64)
          train.kernels=fast                   | train.kernels = "fast"                  | must be one of auto, fused, stock
          train.steps_per_epoch=-1             | train.steps_per_epoch = -1              | must be >= 0
          train.output_dir=                    | train.output_dir = ""                   | must name a directory
          eval.knn_every=-1                    | eval.knn_every = -1                     | must be >= 0
          eval.knn_k=0                         | eval.knn_k = 0                          | must be >= 1
          eval.knn_temperature=0               | eval.knn_temperature = 0.0              | must be a finite number > 0
          eval.knn_train_limit=-5              | eval.knn_train_limit = -5               | must be >= 0
          eval.knn_test_limit=-5               | eval.knn_test_limit = -5                | must be >= 0
          """)
  void impossibleValueNamesKeyValueAndWhatIsAllowed(
      String override, String keyAndValue, String allowed) {
    assertContains(fails("", override), "override '" + override + "': ", keyAndValue, allowed);
  }

  @Test
  void aFileValueIsTracedToItsLineEvenWhenTheOtherKeyIsADefault() {
    ConfigException e = fails("# header\naugment:\n  global_size: 232\n");
    assertContains(
        e,
        "YAML text line 3: augment.global_size = 232: must be a multiple of"
            + " model.patch_size = 16");
    assertEquals(List.of("augment.global_size", "model.patch_size"), e.keys());
  }

  @Test
  void handBuiltConfigsAreCheckedToo() {
    DinoConfig good = Defaults.config();
    assertEquals(good, ConfigValidator.validate(good));
    DinoConfig bad =
        new DinoConfig(
            new DinoConfig.Data("idx", "", "train", "auto", "skip", 1000L, 2, 4, new float[] {0.5f}, new float[] {1f}),
            good.augment(),
            good.model(),
            good.head(),
            good.loss(),
            good.optim(),
            good.train(),
            good.eval());
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigValidator.validate(bad));
    assertContains(e, "data.mean = [0.5]: must have 3 entries");
  }

  @Test
  void seedTakesAnyLong() {
    assertEquals(
        Long.MIN_VALUE,
        ConfigLoader.fromYaml("", List.of("train.seed=-9223372036854775808")).train().seed());
  }

  @Test
  void ibotSettingsAreChecked() {
    ConfigException sk = assertThrows(ConfigException.class, () -> ConfigLoader.fromYaml("",
        List.of("loss.ibot_weight=1.0", "loss.centering=sinkhorn")));
    assertContains(sk, "loss.centering = \"sinkhorn\": must be ema when loss.ibot_weight > 0");
    ConfigException k = assertThrows(ConfigException.class, () -> ConfigLoader.fromYaml("",
        List.of("loss.ibot_weight=1.0", "loss.ibot_out_dim=512")));
    assertContains(k, "loss.ibot_out_dim = 512: must be 0 unless loss.ibot_separate_head is true");
    ConfigException r = assertThrows(ConfigException.class, () -> ConfigLoader.fromYaml("",
        List.of("loss.ibot_mask_ratio_min=0.6", "loss.ibot_mask_ratio_max=0.5")));
    assertContains(r, "loss.ibot_mask_ratio_max = 0.5: must be in [0.6, 1.0]");
    ConfigException p = assertThrows(ConfigException.class, () -> ConfigLoader.fromYaml("",
        List.of("loss.ibot_weight=1.0", "loss.ibot_mask_probability=0")));
    assertContains(p, "loss.ibot_mask_probability = 0");
    DinoConfig ok = ConfigLoader.fromYaml("", List.of("loss.ibot_weight=1.0", "loss.ibot_separate_head=true",
        "loss.ibot_out_dim=512"));
    assertEquals(512, ok.loss().ibotPrototypes(ok.head()));
  }
}
