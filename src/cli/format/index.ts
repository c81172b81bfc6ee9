// docker's formatter: the default tables, -q, --format with "table" and "json", and the per-object contexts
// (ContainerContext, ImageContext, …) whose fields the templates read.
export { tabwrite } from './tabwriter';
export { Template, TemplateError, goJson, printValue } from './template';
export * from '../../common/docker/units';
export * from './render';
export * from './reference';
export * from './containers';
export * from './images';
export * from './volumes';
export * from './networks';
export { goJson as json } from './template';
