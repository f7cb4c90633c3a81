/**
 * The run config: what a DINO run is, read strictly from YAML.
 *
 * <ul>
 *   <li>{@link dev.dino4j.config.DinoConfig} — the records; the YAML schema is read off them.
 *   <li>{@link dev.dino4j.config.Defaults} — every hyperparameter's default, once, with why.
 *   <li>{@link dev.dino4j.config.ModelArch} — the ViT size table (tiny, small, base).
 *   <li>{@link dev.dino4j.config.ConfigLoader} — defaults, then a YAML file, then {@code
 *       section.key=value} overrides; {@code toYaml}/{@code toMap}/{@code toJson} write the
 *       resolved config back.
 *   <li>{@link dev.dino4j.config.ConfigValidator} — the values a run can use.
 *   <li>{@link dev.dino4j.config.ConfigException} — every problem, as a message naming the key, the
 *       value, what is allowed and where it was set.
 * </ul>
 *
 * <p>Schema: sections {@code data, augment, model, head, loss, optim, train}, each a mapping of
 * snake_case keys (the record components: {@code Optim.clipGrad} is {@code optim.clip_grad}).
 * Ranges are {@code [min, max]} flow lists ({@code augment.global_scale: [0.4, 1.0]}); the blur
 * sigma range is two keys, {@code augment.blur_sigma_min} and {@code augment.blur_sigma_max}, one
 * per record component. {@code model.arch} is a {@link dev.dino4j.config.ModelArch} row or {@code
 * custom}; a row's {@code embed_dim}, {@code depth} and {@code heads} can each be overridden by
 * setting the key, {@code custom} must set all three, and the resolved config always holds all
 * three.
 */
package dev.dino4j.config;
